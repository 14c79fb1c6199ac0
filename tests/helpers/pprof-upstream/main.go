// SPDX-License-Identifier: MIT
// pprof-upstream: google/pprof's own driver, which honours -tls_cert,
// -tls_key and -tls_ca when it fetches a profile (`go tool pprof` fetches
// URLs itself and cannot present a client certificate). The
// pprof_upstream fixture in tests/integration/conftest.py builds it
// against the copy of google/pprof vendored in Go's own source tree.
package main

import (
	"os"

	"github.com/google/pprof/driver"
)

func main() {
	if driver.PProf(&driver.Options{}) != nil {
		os.Exit(2)
	}
}
