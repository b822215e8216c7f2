// Package sdktest holds Clarion's conformance test against Okta's official
// Go SDK (github.com/okta/okta-sdk-golang/v5): the SDK, configured as a
// customer would configure it for a real org (PrivateKey mode, DPoP), drives
// the simulated org (okta/sim) in process. It is a module of its own so that
// the product does not take the SDK as a dependency; CI runs it with
// `cd okta/sdktest && go test -race ./...`.
package sdktest
