package eventattach

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// tokenRefreshWindow is how long before expiry a cached token is replaced,
// so a token never expires between being read and reaching Graph.
const tokenRefreshWindow = 5 * time.Minute

// tokenCache holds one bearer token for the client's scope and fetches a new
// one single-flight: however many goroutines need a token at once, the
// credential is asked once.
type tokenCache struct {
	cred  azcore.TokenCredential
	scope []string

	mu       sync.Mutex
	header   string    // "Bearer <token>", built once per token
	values   []string  // {header}, the Authorization header's value slice
	expires  time.Time // when to stop using header
	fetching chan struct{}
	fetchErr error
}

func newTokenCache(cred azcore.TokenCredential, scope string) *tokenCache {
	return &tokenCache{cred: cred, scope: []string{scope}}
}

// errCredential marks a failure of the caller's credential, which is never
// retried by the transport: the credential has its own retries.
type credentialError struct{ err error }

func (e *credentialError) Error() string { return "eventattach: getting a token: " + e.err.Error() }
func (e *credentialError) Unwrap() error { return e.err }

// authorization returns the Authorization header value, fetching a token
// when none is cached or the cached one is about to expire. claims, from a
// CAE challenge, forces a fresh token carrying them.
func (t *tokenCache) authorization(ctx context.Context, claims string) (string, error) {
	for {
		t.mu.Lock()
		if claims == "" && t.header != "" && time.Now().Before(t.expires) {
			h := t.header
			t.mu.Unlock()
			return h, nil
		}
		if wait := t.fetching; wait != nil {
			t.mu.Unlock()
			select {
			case <-wait:
				t.mu.Lock()
				err := t.fetchErr
				t.mu.Unlock()
				if err != nil {
					return "", err
				}
				claims = "" // the fetch we waited for answered the challenge
				continue
			case <-ctx.Done():
				return "", ctx.Err()
			}
		}
		done := make(chan struct{})
		t.fetching = done
		t.mu.Unlock()

		tok, err := t.cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: t.scope, Claims: claims})

		t.mu.Lock()
		t.fetching = nil
		if err != nil {
			t.fetchErr = &credentialError{err}
		} else {
			t.fetchErr = nil
			t.header = "Bearer " + tok.Token
			t.values = []string{t.header}
			t.expires = tok.ExpiresOn.Add(-tokenRefreshWindow)
			if !tok.RefreshOn.IsZero() && tok.RefreshOn.Before(t.expires) {
				t.expires = tok.RefreshOn
			}
			if !t.expires.After(time.Now()) {
				// A token shorter-lived than the window is still usable once.
				t.expires = tok.ExpiresOn
			}
		}
		h, ferr := t.header, t.fetchErr
		t.mu.Unlock()
		close(done)
		if ferr != nil {
			return "", ferr
		}
		if h == "" {
			return "", &credentialError{fmt.Errorf("credential returned an empty token")}
		}
		return h, nil
	}
}

// invalidate drops the cached token if it is still the one that failed, so
// concurrent 401s cause one refresh, not one each.
func (t *tokenCache) invalidate(failed string) {
	t.mu.Lock()
	if t.header == failed {
		t.header = ""
	}
	t.mu.Unlock()
}

// authorizationValues is authorization plus the header's value slice, shared
// by every request that carries this token: net/http never writes to it.
func (t *tokenCache) authorizationValues(ctx context.Context, claims string) (string, []string, error) {
	h, err := t.authorization(ctx, claims)
	if err != nil {
		return "", nil, err
	}
	t.mu.Lock()
	v := t.values
	t.mu.Unlock()
	if len(v) != 1 || v[0] != h {
		v = []string{h}
	}
	return h, v, nil
}
