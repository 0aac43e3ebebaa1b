package outbound

import (
	"fmt"
	"net/netip"
	"os"
	"testing"
)

// TestMain keeps every test on this machine: should the policy under test
// ever let a non-loopback address through, the guard refuses it before
// connect(2), so the test fails instead of sending a packet.
func TestMain(m *testing.M) {
	testHookDial = func(ap netip.AddrPort) error {
		if !ap.Addr().Unmap().IsLoopback() {
			return fmt.Errorf("test guard: refusing to connect off the machine to %s", ap)
		}
		return nil
	}
	os.Exit(m.Run())
}
