package azblobstore

import (
	"context"
	"testing"

	"github.com/eventattach/eventattach"
	"github.com/eventattach/eventattach/storetest"
)

// The Store interface's promises (storetest), against Azurite. Blob leases
// last 15 s at least, so the subtests run in parallel: the expiry cases
// wait about 15 s each.
func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) eventattach.Store { return newStore(t) }, &storetest.Options{
		MinTTL:   MinTTL,
		Parallel: true,
		Break: func(t *testing.T, s eventattach.Store, key string) {
			if err := s.(*Store).Break(context.Background(), key); err != nil {
				t.Fatal(err)
			}
		},
	})
}
