package traffic

// City is a real city: its centre, IANA time zone and the networks its
// residents use. Every city in the table is at least 150 km from every
// other, so "the same city" and "within 100 km" coincide.
type City struct {
	Name, State, Country, Postal string
	Lat, Lon                     float64
	TZ                           string
	Broadband                    []int // indexes into networks
	Mobile                       int   // index into networks; -1 none
	// MobileGeo is the city the mobile carrier's gateway geolocates to
	// (carrier-grade NAT egress): often hundreds of km from the user.
	MobileGeo int
}

// Network is an autonomous system as Okta's securityContext shows it.
type Network struct {
	ASN     int
	ASOrg   string
	ISP     string
	Domain  string
	Prefix  [2]byte // first two octets of the IPv4 addresses it hands out
	Proxy   bool    // an anonymising VPN or proxy provider (isProxy true)
	Hosting bool    // a data-centre network
}

// Network indexes.
const (
	nComcast = iota
	nATT
	nVerizon
	nCharter
	nCox
	nTMobileUS
	nVerizonWireless
	nATTMobility
	nRogers
	nBell
	nTelus
	nTelmex
	nTelcel
	nVivo
	nClaroBR
	nTIM
	nTelecomAR
	nPersonalAR
	nClaroCO
	nTigoCO
	nBT
	nVirgin
	nSky
	nEE
	nVodafoneUK
	nEir
	nVodafoneIE
	nOrange
	nFree
	nSFR
	nBouygues
	nDTAG
	nVodafoneDE
	nO2DE
	nKPN
	nZiggo
	nOdido
	nMovistar
	nOrangeES
	nVodafoneES
	nTelia
	nTele2
	nOrangePL
	nPlay
	nSwisscom
	nSunrise
	nTIMIT
	nVodafoneIT
	nNTT
	nKDDI
	nSoftBank
	nSingtel
	nStarHub
	nTelstra
	nOptus
	nAirtel
	nACT
	nJio
	nKT
	nSKT
	nHKT
	nHKBN
	nBezeq
	nPartner
	nEtisalat
	nDu
	nTelkomZA
	nVodacom
	nSpark
	nOneNZ
	nMTN
	nRostelecom
	nMTS
	nViettel
	nVNPT
	nRCS
	nTelkomID
	nTurkTelekom
	// Corporate and hosting networks.
	nZscaler
	nDigitalOcean
	nM247
	nOVH
	nVultr
	nDatacamp
	nHetzner
	nTorExit
	nHotel // hotel and conference Wi-Fi (guest networks)
	numNetworks
)

var networks = [numNetworks]Network{
	nComcast:         {7922, "comcast cable communications, llc", "comcast cable communications llc", "comcast.net", [2]byte{73, 0}, false, false},
	nATT:             {7018, "at&t corp.", "att services inc", "sbcglobal.net", [2]byte{99, 0}, false, false},
	nVerizon:         {701, "verizon business", "verizon communications", "verizon.net", [2]byte{71, 0}, false, false},
	nCharter:         {20115, "charter communications", "charter communications inc", "spectrum.com", [2]byte{76, 0}, false, false},
	nCox:             {22773, "cox communications inc.", "cox communications", "cox.net", [2]byte{68, 0}, false, false},
	nTMobileUS:       {21928, "t-mobile usa, inc.", "t-mobile usa, inc.", "tmodns.net", [2]byte{172, 56}, false, false},
	nVerizonWireless: {6167, "cellco partnership dba verizon wireless", "verizon wireless", "myvzw.com", [2]byte{174, 192}, false, false},
	nATTMobility:     {20057, "at&t mobility llc", "at&t mobility llc", "mycingular.net", [2]byte{166, 0}, false, false},
	nRogers:          {812, "rogers communications canada inc.", "rogers communications canada inc.", "rogers.com", [2]byte{99, 224}, false, false},
	nBell:            {577, "bell canada", "bell canada", "sympatico.ca", [2]byte{70, 48}, false, false},
	nTelus:           {852, "telus communications inc.", "telus communications inc.", "telus.net", [2]byte{75, 152}, false, false},
	nTelmex:          {8151, "uninet s.a. de c.v.", "telmex", "prod-infinitum.com.mx", [2]byte{189, 128}, false, false},
	nTelcel:          {28403, "radiomovil dipsa, s.a. de c.v.", "telcel", "telcel.com", [2]byte{187, 188}, false, false},
	nVivo:            {26599, "telefonica brasil s.a", "vivo", "telesp.net.br", [2]byte{177, 100}, false, false},
	nClaroBR:         {28573, "claro nxt telecomunicacoes ltda", "claro s.a.", "virtua.com.br", [2]byte{179, 218}, false, false},
	nTIM:             {26615, "tim s/a", "tim celular s.a.", "timbrasil.com.br", [2]byte{187, 26}, false, false},
	nTelecomAR:       {7303, "telecom argentina s.a.", "telecom argentina s.a.", "fibertel.com.ar", [2]byte{181, 46}, false, false},
	nPersonalAR:      {22927, "telefonica de argentina", "movistar argentina", "speedy.com.ar", [2]byte{186, 22}, false, false},
	nClaroCO:         {10620, "telmex colombia s.a.", "claro colombia", "claro.net.co", [2]byte{181, 49}, false, false},
	nTigoCO:          {13489, "epm telecomunicaciones s.a. e.s.p.", "tigo", "une.net.co", [2]byte{190, 248}, false, false},
	nBT:              {2856, "british telecommunications plc", "bt public internet service", "bt.com", [2]byte{86, 128}, false, false},
	nVirgin:          {5089, "virgin media limited", "virgin media", "virginm.net", [2]byte{82, 16}, false, false},
	nSky:             {5607, "sky uk limited", "sky broadband", "sky.com", [2]byte{90, 200}, false, false},
	nEE:              {12576, "ee limited", "ee mobile", "ee.co.uk", [2]byte{92, 40}, false, false},
	nVodafoneUK:      {25135, "vodafone limited", "vodafone uk", "vodafone.co.uk", [2]byte{90, 240}, false, false},
	nEir:             {5466, "eircom limited", "eir broadband", "eircom.net", [2]byte{86, 40}, false, false},
	nVodafoneIE:      {15502, "vodafone ireland limited", "vodafone ireland", "vodafone.ie", [2]byte{89, 19}, false, false},
	nOrange:          {3215, "orange s.a.", "orange", "wanadoo.fr", [2]byte{90, 12}, false, false},
	nFree:            {12322, "free sas", "free sas", "free.fr", [2]byte{82, 64}, false, false},
	nSFR:             {15557, "societe francaise du radiotelephone - sfr sa", "sfr", "sfr.net", [2]byte{109, 8}, false, false},
	nBouygues:        {5410, "bouygues telecom sa", "bouygues telecom", "bbox.fr", [2]byte{176, 128}, false, false},
	nDTAG:            {3320, "deutsche telekom ag", "deutsche telekom ag", "t-ipconnect.de", [2]byte{79, 192}, false, false},
	nVodafoneDE:      {3209, "vodafone gmbh", "vodafone germany", "vodafone.de", [2]byte{88, 64}, false, false},
	nO2DE:            {6805, "telefonica germany gmbh & co.ohg", "o2 deutschland", "telefonica.de", [2]byte{89, 204}, false, false},
	nKPN:             {1136, "kpn b.v.", "kpn", "kpn.net", [2]byte{145, 128}, false, false},
	nZiggo:           {33915, "vodafoneziggo b.v.", "ziggo", "ziggo.nl", [2]byte{84, 104}, false, false},
	nOdido:           {31615, "odido netherlands b.v.", "odido", "t-mobile.nl", [2]byte{62, 140}, false, false},
	nMovistar:        {3352, "telefonica de espana s.a.u.", "movistar", "rima-tde.net", [2]byte{83, 32}, false, false},
	nOrangeES:        {12479, "orange espagne sa", "orange espana", "orange.es", [2]byte{90, 160}, false, false},
	nVodafoneES:      {12430, "vodafone espana s.a.u.", "vodafone spain", "vodafone.es", [2]byte{77, 208}, false, false},
	nTelia:           {3301, "telia company ab", "telia sverige", "telia.com", [2]byte{78, 64}, false, false},
	nTele2:           {1257, "tele2 sverige ab", "tele2", "tele2.se", [2]byte{90, 224}, false, false},
	nOrangePL:        {5617, "orange polska spolka akcyjna", "orange polska", "tpnet.pl", [2]byte{83, 20}, false, false},
	nPlay:            {39603, "p4 sp. z o.o.", "play", "play.pl", [2]byte{37, 248}, false, false},
	nSwisscom:        {3303, "swisscom (schweiz) ag", "swisscom", "bluewin.ch", [2]byte{85, 0}, false, false},
	nSunrise:         {6730, "sunrise gmbh", "sunrise", "sunrise.ch", [2]byte{212, 101}, false, false},
	nTIMIT:           {3269, "telecom italia s.p.a.", "tim", "telecomitalia.it", [2]byte{79, 16}, false, false},
	nVodafoneIT:      {30722, "vodafone italia s.p.a.", "vodafone italia", "vodafone.it", [2]byte{5, 90}, false, false},
	nNTT:             {4713, "ntt communications corporation", "ntt ocn", "ocn.ne.jp", [2]byte{153, 204}, false, false},
	nKDDI:            {2516, "kddi corporation", "kddi", "dion.ne.jp", [2]byte{106, 128}, false, false},
	nSoftBank:        {17676, "softbank corp.", "softbank", "bbtec.net", [2]byte{126, 0}, false, false},
	nSingtel:         {9506, "singtel fibre broadband", "singapore telecommunications ltd", "singnet.com.sg", [2]byte{116, 86}, false, false},
	nStarHub:         {4657, "starhub ltd", "starhub mobile", "starhub.net.sg", [2]byte{118, 189}, false, false},
	nTelstra:         {1221, "telstra limited", "telstra internet", "bigpond.net.au", [2]byte{101, 160}, false, false},
	nOptus:           {4804, "optus administration pty ltd", "optus", "optusnet.com.au", [2]byte{49, 176}, false, false},
	nAirtel:          {24560, "bharti airtel ltd.", "airtel broadband", "airtelbroadband.in", [2]byte{122, 171}, false, false},
	nACT:             {24309, "atria convergence technologies pvt. ltd.", "act fibernet", "actcorp.in", [2]byte{106, 51}, false, false},
	nJio:             {55836, "reliance jio infocomm limited", "jio", "jio.com", [2]byte{49, 36}, false, false},
	nKT:              {4766, "korea telecom", "kt corporation", "kornet.net", [2]byte{211, 36}, false, false},
	nSKT:             {9644, "sk telecom", "sk telecom", "sktelecom.com", [2]byte{223, 32}, false, false},
	nHKT:             {4760, "hkt limited", "netvigator", "netvigator.com", [2]byte{112, 118}, false, false},
	nHKBN:            {9269, "hong kong broadband network ltd.", "hkbn", "hkbn.net", [2]byte{61, 92}, false, false},
	nBezeq:           {8551, "bezeq international-ltd", "bezeq international", "bezeqint.net", [2]byte{79, 176}, false, false},
	nPartner:         {12400, "partner communications ltd.", "partner", "012.net.il", [2]byte{37, 142}, false, false},
	nEtisalat:        {5384, "emirates telecommunications group company (etisalat group) pjsc", "etisalat", "emirates.net.ae", [2]byte{94, 200}, false, false},
	nDu:              {15802, "emirates integrated telecommunications company pjsc", "du", "du.ae", [2]byte{94, 56}, false, false},
	nTelkomZA:        {37457, "telkom sa ltd.", "telkom internet", "telkomsa.net", [2]byte{105, 224}, false, false},
	nVodacom:         {29975, "vodacom", "vodacom", "vodacom.co.za", [2]byte{41, 0}, false, false},
	nSpark:           {4771, "spark new zealand trading ltd.", "spark", "xtra.co.nz", [2]byte{122, 56}, false, false},
	nOneNZ:           {9500, "one new zealand group limited", "one nz", "one.nz", [2]byte{49, 224}, false, false},
	nMTN:             {29465, "mtn nigeria communication limited", "mtn nigeria", "mtnnigeria.net", [2]byte{102, 89}, false, false},
	nRostelecom:      {12389, "pjsc rostelecom", "rostelecom", "rt.ru", [2]byte{95, 24}, false, false},
	nMTS:             {8359, "mts pjsc", "mts", "mts.ru", [2]byte{89, 178}, false, false},
	nViettel:         {7552, "viettel group", "viettel", "viettel.vn", [2]byte{27, 72}, false, false},
	nVNPT:            {45899, "vnpt corp", "vnpt", "vnpt.vn", [2]byte{14, 160}, false, false},
	nRCS:             {8708, "rcs & rds sa", "digi romania", "rdsnet.ro", [2]byte{86, 120}, false, false},
	nTelkomID:        {7713, "pt telekomunikasi indonesia", "telkom indonesia", "telkom.net.id", [2]byte{36, 64}, false, false},
	nTurkTelekom:     {9121, "turk telekomunikasyon anonim sirketi", "turk telekom", "ttnet.com.tr", [2]byte{85, 96}, false, false},
	nZscaler:         {22616, "zscaler, inc.", "zscaler, inc.", "zscaler.net", [2]byte{165, 225}, false, true},
	nDigitalOcean:    {14061, "digitalocean, llc", "digitalocean, llc", "digitalocean.com", [2]byte{167, 99}, false, true},
	nM247:            {9009, "m247 europe srl", "m247 ltd", "m247.com", [2]byte{185, 156}, true, true},
	nOVH:             {16276, "ovh sas", "ovh sas", "ovh.net", [2]byte{51, 75}, false, true},
	nVultr:           {20473, "the constant company, llc", "vultr holdings llc", "vultr.com", [2]byte{45, 77}, false, true},
	nDatacamp:        {60068, "datacamp limited", "cdn77", "cdn77.com", [2]byte{89, 187}, true, true},
	nHetzner:         {24940, "hetzner online gmbh", "hetzner online gmbh", "your-server.de", [2]byte{95, 216}, false, true},
	nTorExit:         {208323, "foundation for applied privacy", "applied privacy", "applied-privacy.net", [2]byte{185, 220}, true, true},
	nHotel:           {46562, "performive llc", "hotel guest wi-fi", "performive.com", [2]byte{104, 245}, false, false},
}

// City indexes used by name in the model.
const (
	cSanFrancisco = 0
	cNewYork      = 1
	cLondon       = 21
	cBengaluru    = 41
	cAmsterdam    = 29
	cFrankfurt    = 27
	cBucharest    = 53
	cLagos        = 50
	cMoscow       = 51
	cHoChiMinh    = 52
	cJakarta      = 54
	cIstanbul     = 55
	cSaoPaulo     = 17
)

var us = []int{nComcast, nATT, nVerizon, nCharter, nCox}

var cities = []City{
	0:  {"San Francisco", "California", "United States", "94103", 37.7749, -122.4194, "America/Los_Angeles", []int{nComcast, nATT}, nTMobileUS, 8},
	1:  {"New York", "New York", "United States", "10013", 40.7128, -74.0060, "America/New_York", []int{nVerizon, nCharter}, nVerizonWireless, 16},
	2:  {"Chicago", "Illinois", "United States", "60601", 41.8781, -87.6298, "America/Chicago", []int{nComcast, nATT}, nATTMobility, 2},
	3:  {"Denver", "Colorado", "United States", "80202", 39.7392, -104.9903, "America/Denver", []int{nComcast, nCharter}, nTMobileUS, 13},
	4:  {"Seattle", "Washington", "United States", "98101", 47.6062, -122.3321, "America/Los_Angeles", []int{nComcast, nCharter}, nTMobileUS, 4},
	5:  {"Austin", "Texas", "United States", "78701", 30.2672, -97.7431, "America/Chicago", []int{nATT, nCharter}, nVerizonWireless, 15},
	6:  {"Boston", "Massachusetts", "United States", "02108", 42.3601, -71.0589, "America/New_York", []int{nComcast, nVerizon}, nVerizonWireless, 1},
	7:  {"Atlanta", "Georgia", "United States", "30303", 33.7490, -84.3880, "America/New_York", []int{nATT, nComcast}, nATTMobility, 7},
	8:  {"Los Angeles", "California", "United States", "90012", 34.0522, -118.2437, "America/Los_Angeles", []int{nCharter, nATT}, nTMobileUS, 8},
	9:  {"Phoenix", "Arizona", "United States", "85004", 33.4484, -112.0740, "America/Phoenix", []int{nCox, nCharter}, nVerizonWireless, 8},
	10: {"Toronto", "Ontario", "Canada", "M5H", 43.6532, -79.3832, "America/Toronto", []int{nRogers, nBell}, nRogers, 10},
	11: {"Vancouver", "British Columbia", "Canada", "V6B", 49.2827, -123.1207, "America/Vancouver", []int{nTelus, nRogers}, nRogers, 11},
	12: {"Mexico City", "Mexico City", "Mexico", "06000", 19.4326, -99.1332, "America/Mexico_City", []int{nTelmex}, nTelcel, 12},
	13: {"Salt Lake City", "Utah", "United States", "84101", 40.7608, -111.8910, "America/Denver", []int{nComcast}, nVerizonWireless, 3},
	14: {"Fresno", "California", "United States", "93721", 36.7378, -119.7871, "America/Los_Angeles", []int{nCharter, nATT}, nATTMobility, 0},
	15: {"Dallas", "Texas", "United States", "75201", 32.7767, -96.7970, "America/Chicago", []int{nATT, nCharter}, nATTMobility, 5},
	16: {"Washington", "District of Columbia", "United States", "20001", 38.9072, -77.0369, "America/New_York", []int{nVerizon, nComcast}, nVerizonWireless, 1},
	17: {"Sao Paulo", "Sao Paulo", "Brazil", "01000", -23.5505, -46.6333, "America/Sao_Paulo", []int{nVivo, nClaroBR}, nTIM, 18},
	18: {"Rio de Janeiro", "Rio de Janeiro", "Brazil", "20000", -22.9068, -43.1729, "America/Sao_Paulo", []int{nClaroBR, nVivo}, nTIM, 17},
	19: {"Buenos Aires", "Buenos Aires", "Argentina", "C1002", -34.6037, -58.3816, "America/Argentina/Buenos_Aires", []int{nTelecomAR}, nPersonalAR, 19},
	20: {"Bogota", "Bogota D.C.", "Colombia", "110111", 4.7110, -74.0721, "America/Bogota", []int{nClaroCO}, nTigoCO, 20},
	21: {"London", "England", "United Kingdom", "EC1A", 51.5074, -0.1278, "Europe/London", []int{nBT, nVirgin, nSky}, nEE, 22},
	22: {"Manchester", "England", "United Kingdom", "M1", 53.4808, -2.2426, "Europe/London", []int{nVirgin, nBT}, nVodafoneUK, 21},
	23: {"Dublin", "Leinster", "Ireland", "D02", 53.3498, -6.2603, "Europe/Dublin", []int{nEir}, nVodafoneIE, 23},
	24: {"Paris", "Ile-de-France", "France", "75001", 48.8566, 2.3522, "Europe/Paris", []int{nOrange, nFree, nSFR}, nBouygues, 25},
	25: {"Lyon", "Auvergne-Rhone-Alpes", "France", "69001", 45.7640, 4.8357, "Europe/Paris", []int{nOrange, nFree}, nBouygues, 24},
	26: {"Berlin", "Berlin", "Germany", "10115", 52.5200, 13.4050, "Europe/Berlin", []int{nDTAG, nVodafoneDE}, nO2DE, 27},
	27: {"Frankfurt", "Hesse", "Germany", "60311", 50.1109, 8.6821, "Europe/Berlin", []int{nDTAG, nVodafoneDE}, nO2DE, 28},
	28: {"Munich", "Bavaria", "Germany", "80331", 48.1351, 11.5820, "Europe/Berlin", []int{nDTAG, nVodafoneDE}, nO2DE, 27},
	29: {"Amsterdam", "North Holland", "Netherlands", "1012", 52.3676, 4.9041, "Europe/Amsterdam", []int{nKPN, nZiggo}, nOdido, 29},
	30: {"Madrid", "Madrid", "Spain", "28013", 40.4168, -3.7038, "Europe/Madrid", []int{nMovistar, nOrangeES}, nVodafoneES, 31},
	31: {"Barcelona", "Catalonia", "Spain", "08001", 41.3851, 2.1734, "Europe/Madrid", []int{nMovistar, nOrangeES}, nVodafoneES, 30},
	32: {"Stockholm", "Stockholm", "Sweden", "111 20", 59.3293, 18.0686, "Europe/Stockholm", []int{nTelia}, nTele2, 32},
	33: {"Warsaw", "Mazovia", "Poland", "00-001", 52.2297, 21.0122, "Europe/Warsaw", []int{nOrangePL}, nPlay, 33},
	34: {"Zurich", "Zurich", "Switzerland", "8001", 47.3769, 8.5417, "Europe/Zurich", []int{nSwisscom}, nSunrise, 34},
	35: {"Milan", "Lombardy", "Italy", "20121", 45.4642, 9.1900, "Europe/Rome", []int{nTIMIT}, nVodafoneIT, 35},
	36: {"Tokyo", "Tokyo", "Japan", "100-0001", 35.6762, 139.6503, "Asia/Tokyo", []int{nNTT, nKDDI}, nSoftBank, 37},
	37: {"Osaka", "Osaka", "Japan", "530-0001", 34.6937, 135.5023, "Asia/Tokyo", []int{nNTT, nKDDI}, nSoftBank, 36},
	38: {"Singapore", "Singapore", "Singapore", "018989", 1.3521, 103.8198, "Asia/Singapore", []int{nSingtel}, nStarHub, 38},
	39: {"Sydney", "New South Wales", "Australia", "2000", -33.8688, 151.2093, "Australia/Sydney", []int{nTelstra, nOptus}, nOptus, 40},
	40: {"Melbourne", "Victoria", "Australia", "3000", -37.8136, 144.9631, "Australia/Melbourne", []int{nTelstra, nOptus}, nOptus, 39},
	41: {"Bengaluru", "Karnataka", "India", "560001", 12.9716, 77.5946, "Asia/Kolkata", []int{nACT, nAirtel}, nJio, 43},
	42: {"Mumbai", "Maharashtra", "India", "400001", 19.0760, 72.8777, "Asia/Kolkata", []int{nAirtel}, nJio, 42},
	43: {"Hyderabad", "Telangana", "India", "500001", 17.3850, 78.4867, "Asia/Kolkata", []int{nACT, nAirtel}, nJio, 41},
	44: {"Seoul", "Seoul", "South Korea", "04524", 37.5665, 126.9780, "Asia/Seoul", []int{nKT}, nSKT, 44},
	45: {"Hong Kong", "Hong Kong", "Hong Kong", "999077", 22.3193, 114.1694, "Asia/Hong_Kong", []int{nHKT}, nHKBN, 45},
	46: {"Tel Aviv", "Tel Aviv", "Israel", "6100000", 32.0853, 34.7818, "Asia/Jerusalem", []int{nBezeq}, nPartner, 46},
	47: {"Dubai", "Dubai", "United Arab Emirates", "00000", 25.2048, 55.2708, "Asia/Dubai", []int{nEtisalat}, nDu, 47},
	48: {"Johannesburg", "Gauteng", "South Africa", "2001", -26.2041, 28.0473, "Africa/Johannesburg", []int{nTelkomZA}, nVodacom, 48},
	49: {"Auckland", "Auckland", "New Zealand", "1010", -36.8485, 174.7633, "Pacific/Auckland", []int{nSpark}, nOneNZ, 49},
	50: {"Lagos", "Lagos", "Nigeria", "100001", 6.5244, 3.3792, "Africa/Lagos", []int{nMTN}, nMTN, 50},
	51: {"Moscow", "Moscow", "Russia", "101000", 55.7558, 37.6173, "Europe/Moscow", []int{nRostelecom}, nMTS, 51},
	52: {"Ho Chi Minh City", "Ho Chi Minh", "Vietnam", "700000", 10.8231, 106.6297, "Asia/Ho_Chi_Minh", []int{nViettel, nVNPT}, nViettel, 52},
	53: {"Bucharest", "Bucharest", "Romania", "010011", 44.4268, 26.1025, "Europe/Bucharest", []int{nRCS}, nRCS, 53},
	54: {"Jakarta", "Jakarta", "Indonesia", "10110", -6.2088, 106.8456, "Asia/Jakarta", []int{nTelkomID}, nTelkomID, 54},
	55: {"Istanbul", "Istanbul", "Turkey", "34000", 41.0082, 28.9784, "Europe/Istanbul", []int{nTurkTelekom}, nTurkTelekom, 55},
}

// Where the company's people live: weights per city for remote workers
// (office cities are assigned separately). Attack-source cities have none.
var remoteHomes = []int{1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20,
	22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 42, 43,
	44, 45, 46, 47, 48, 49}

// Offices: the head office (shared by about half the company), a European
// office and an Indian office. Their metros are common across the tenant.
var offices = []struct {
	City  int
	Share float64 // fraction of users who work there
}{
	{cSanFrancisco, 0.45},
	{cLondon, 0.20},
	{cBengaluru, 0.12},
}

// Trip destinations: customer sites, conferences and the other offices.
var tripCities = []int{cSanFrancisco, cLondon, cBengaluru, 1, 2, 4, 5, 6, 7, 8, 10, 12, 16, 17,
	23, 24, 26, 27, 29, 30, 32, 34, 35, 36, 38, 39, 44, 45, 46, 47}

// Where attacks come from: the attacker city and the network it egresses through.
var attackSources = []struct{ City, Net int }{
	{cLagos, nMTN},
	{cMoscow, nRostelecom},
	{cHoChiMinh, nViettel},
	{cBucharest, nM247},
	{cJakarta, nTelkomID},
	{cIstanbul, nTurkTelekom},
	{cSaoPaulo, nVivo},
	{cAmsterdam, nDigitalOcean},
	{cFrankfurt, nHetzner},
}

// Anonymising exits: commercial VPN and Tor exit locations (isProxy true).
var proxySources = []struct{ City, Net int }{
	{cBucharest, nM247},
	{cAmsterdam, nDatacamp},
	{cFrankfurt, nTorExit},
	{cAmsterdam, nTorExit},
	{cNewYork, nDatacamp},
}
