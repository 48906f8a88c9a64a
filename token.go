package eventattach

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// tokenRefreshWindow is how long before expiry a cached token is replaced,
// so a token never expires between being read and reaching Graph.
const tokenRefreshWindow = 5 * time.Minute

// tokenFetchTimeout bounds one shared token fetch. The fetch serves every
// caller waiting for a token, so it runs on a context none of them can
// cancel (each caller's ctx ends only its own wait); the timeout keeps a
// credential that never answers from holding up the client for ever.
const tokenFetchTimeout = 60 * time.Second

// tokenCache holds one bearer token for the client's scope and fetches a new
// one single-flight: however many goroutines need a token at once, the
// credential is asked once.
type tokenCache struct {
	cred  azcore.TokenCredential
	scope []string

	mu       sync.Mutex
	header   string      // "Bearer <token>", built once per token
	expires  time.Time   // when to stop using header
	fetching *tokenFetch // the fetch in progress, if any
}

// tokenFetch is one call of the credential, shared by everyone who waits
// for it. header and err are set before done is closed.
type tokenFetch struct {
	done   chan struct{}
	header string
	err    error
}

func newTokenCache(cred azcore.TokenCredential, scope string) *tokenCache {
	return &tokenCache{cred: cred, scope: []string{scope}}
}

// credentialError marks a failure of the caller's credential, which the
// engine never retries: the credential has its own retries.
type credentialError struct{ err error }

func (e *credentialError) Error() string { return "eventattach: getting a token: " + e.err.Error() }
func (e *credentialError) Unwrap() error { return e.err }

// authorization returns the Authorization header value, fetching a token
// when none is cached or the cached one is about to expire. claims, from a
// CAE challenge, forces a fresh token carrying them; a fetch already under
// way answers the challenge too. When ctx ends first, only this caller
// gives up: the fetch goes on for the others.
func (t *tokenCache) authorization(ctx context.Context, claims string) (string, error) {
	t.mu.Lock()
	if claims == "" && t.header != "" && time.Now().Before(t.expires) {
		h := t.header
		t.mu.Unlock()
		return h, nil
	}
	f := t.fetching
	if f == nil {
		f = &tokenFetch{done: make(chan struct{})}
		t.fetching = f
		// WithoutCancel keeps ctx's values (tracing) but not its end.
		go t.fetch(context.WithoutCancel(ctx), f, claims)
	}
	t.mu.Unlock()
	select {
	case <-f.done:
		return f.header, f.err
	case <-ctx.Done():
		return "", fmt.Errorf("eventattach: waiting for a token: %w", ctx.Err())
	}
}

// fetch asks the credential once and publishes the result to f's waiters.
func (t *tokenCache) fetch(ctx context.Context, f *tokenFetch, claims string) {
	ctx, cancel := context.WithTimeout(ctx, tokenFetchTimeout)
	defer cancel()
	tok, err := t.cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: t.scope, Claims: claims})
	switch {
	case err != nil:
		f.err = &credentialError{err}
	case tok.Token == "":
		f.err = &credentialError{fmt.Errorf("credential returned an empty token")}
	default:
		f.header = "Bearer " + tok.Token
	}

	t.mu.Lock()
	t.fetching = nil
	if f.err == nil {
		t.header = f.header
		t.expires = tok.ExpiresOn.Add(-tokenRefreshWindow)
		if !tok.RefreshOn.IsZero() && tok.RefreshOn.Before(t.expires) {
			t.expires = tok.RefreshOn
		}
		if !t.expires.After(time.Now()) {
			// A token shorter-lived than the window is still usable once.
			t.expires = tok.ExpiresOn
		}
	}
	t.mu.Unlock()
	close(f.done)
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

// claimsFrom extracts the claims challenge of a CAE 401 (WWW-Authenticate:
// Bearer ..., error="insufficient_claims", claims="<base64>"), passed to the
// credential as Graph requires.
func claimsFrom(h http.Header) string {
	for _, v := range h.Values("WWW-Authenticate") {
		i := strings.Index(v, `claims="`)
		if i < 0 {
			continue
		}
		rest := v[i+len(`claims="`):]
		if j := strings.IndexByte(rest, '"'); j >= 0 {
			return decodeClaims(rest[:j])
		}
	}
	return ""
}

func decodeClaims(s string) string {
	if b, err := base64.StdEncoding.DecodeString(s); err == nil {
		return string(b)
	}
	return s
}

// cached is the cached header when it is still good for a request without
// a claims challenge.
func (t *tokenCache) cached(claims string) (string, bool) {
	if claims != "" {
		return "", false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.header != "" && time.Now().Before(t.expires) {
		return t.header, true
	}
	return "", false
}
