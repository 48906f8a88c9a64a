package graphtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// tokenLifetime is what Entra ID typically grants: one hour.
const tokenLifetime = time.Hour

// Credential is the azcore.TokenCredential of a Server: it issues opaque
// tokens that only its server accepts. It counts and records its calls so
// tests can check how a client acquires tokens.
type Credential struct {
	mu     sync.Mutex
	calls  int
	err    error
	last   policy.TokenRequestOptions
	tokens map[string]*issuedToken
}

type issuedToken struct {
	expires time.Time
	revoked bool
}

var _ azcore.TokenCredential = (*Credential)(nil)

func newCredential() *Credential {
	return &Credential{tokens: map[string]*issuedToken{}}
}

// GetToken issues a fresh opaque token valid for one hour. It records
// opts (Scopes and Claims, see LastOptions), and fails with the error set by
// SetError, or when opts has no scope (as Entra ID would).
func (c *Credential) GetToken(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls++
	c.last = opts
	c.last.Scopes = slices.Clone(opts.Scopes)
	if err := ctx.Err(); err != nil {
		return azcore.AccessToken{}, err
	}
	if c.err != nil {
		return azcore.AccessToken{}, c.err
	}
	if len(opts.Scopes) == 0 {
		return azcore.AccessToken{}, errors.New("graphtest: GetToken called without a scope")
	}
	tok, exp := c.issueLocked(tokenLifetime)
	return azcore.AccessToken{Token: tok, ExpiresOn: exp, RefreshOn: exp.Add(-tokenLifetime / 2)}, nil
}

// IssueToken issues a token valid for lifetime, or until ExpireTokens when
// lifetime <= 0, for handing to a client in another process (as
// graphtest/cmd/graphtest prints one); it is not counted as a GetToken call.
func (c *Credential) IssueToken(lifetime time.Duration) azcore.AccessToken {
	c.mu.Lock()
	defer c.mu.Unlock()
	if lifetime <= 0 {
		lifetime = 100 * 365 * 24 * time.Hour
	}
	tok, exp := c.issueLocked(lifetime)
	return azcore.AccessToken{Token: tok, ExpiresOn: exp}
}

func (c *Credential) issueLocked(lifetime time.Duration) (string, time.Time) {
	b := make([]byte, 24)
	rand.Read(b)
	tok := "graphtest." + hex.EncodeToString(b)
	exp := time.Now().Add(lifetime)
	c.tokens[tok] = &issuedToken{expires: exp}
	return tok, exp
}

// Calls is how many times GetToken was called.
func (c *Credential) Calls() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls
}

// SetError makes GetToken fail with err (the credential is down); nil
// restores it.
func (c *Credential) SetError(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.err = err
}

// LastOptions is the options of the latest GetToken call.
func (c *Credential) LastOptions() policy.TokenRequestOptions {
	c.mu.Lock()
	defer c.mu.Unlock()
	o := c.last
	o.Scopes = slices.Clone(o.Scopes)
	return o
}

// tokenStatus tells how the server should treat a bearer token.
type tokenStatus int

const (
	tokenValid   tokenStatus = iota
	tokenUnknown             // never issued by this credential
	tokenExpired             // issued, but revoked or past its lifetime
)

func (c *Credential) check(tok string) tokenStatus {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.tokens[tok]
	switch {
	case !ok:
		return tokenUnknown
	case t.revoked || !time.Now().Before(t.expires):
		return tokenExpired
	}
	return tokenValid
}

func (c *Credential) revokeAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, t := range c.tokens {
		t.revoked = true
	}
}
