package graphtest

import (
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// freePort is a loopback host:port nothing listens on just now.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

func TestOptionsAddr(t *testing.T) {
	addr, upload := freePort(t), freePort(t)
	s := newTestServer(t, &Options{Addr: addr, UploadAddr: upload})
	assert.Equal(t, "http://"+addr+"/v1.0", s.URL())
	assert.Equal(t, "http://"+upload, s.UploadURLBase())
	s.Me().AddEvent("e")
	assert.Equal(t, http.StatusOK, graph(t, s, http.MethodGet, "/me/events/e/attachments", nil).StatusCode)
	// The upload listener answers as the upload host.
	r := do(t, http.MethodGet, s.UploadURLBase()+"/api/v2.0/nothing", nil)
	assert.GreaterOrEqual(t, r.StatusCode, 400)
	reqs := s.Requests()
	require.Len(t, reqs, 2)
	assert.Equal(t, addr, reqs[0].Host)
	assert.Equal(t, upload, reqs[1].Host)
}

func TestOptionsAddrUnspecifiedNamesLoopback(t *testing.T) {
	s := newTestServer(t, &Options{Addr: ":0", UploadAddr: "0.0.0.0:0"})
	assert.True(t, strings.HasPrefix(s.URL(), "http://127.0.0.1:") || strings.HasPrefix(s.URL(), "http://[::1]:"), s.URL())
	assert.True(t, strings.HasPrefix(s.UploadURLBase(), "http://127.0.0.1:"), s.UploadURLBase())
	s.Me().AddEvent("e")
	assert.Equal(t, http.StatusOK, graph(t, s, http.MethodGet, "/me/events/e/attachments", nil).StatusCode)
	do(t, http.MethodGet, s.UploadURLBase()+"/api/v2.0/nothing", nil)
	reqs := s.Requests()
	require.Len(t, reqs, 2)
	assert.Equal(t, strings.TrimPrefix(s.UploadURLBase(), "http://"), reqs[1].Host, "a request on the upload listener is the upload host's")
}

func TestOptionsAddrInUsePanics(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	assert.PanicsWithValue(t, "graphtest: failed to listen on a port: listen tcp "+ln.Addr().String()+": bind: address already in use",
		func() { NewServer(&Options{UploadAddr: ln.Addr().String()}) })
}

func TestIssueToken(t *testing.T) {
	s := newTestServer(t, nil)
	s.Me().AddEvent("e")
	tok := s.Credential().IssueToken(0)
	assert.True(t, tok.ExpiresOn.After(time.Now().Add(365*24*time.Hour)))
	assert.Zero(t, s.Credential().Calls())
	url := s.URL() + "/me/events/e/attachments"
	assert.Equal(t, http.StatusOK, do(t, http.MethodGet, url, nil, "Authorization", "Bearer "+tok.Token).StatusCode)
	short := s.Credential().IssueToken(time.Nanosecond)
	assert.Equal(t, http.StatusUnauthorized, do(t, http.MethodGet, url, nil, "Authorization", "Bearer "+short.Token).StatusCode)
	s.ExpireTokens()
	assert.Equal(t, http.StatusUnauthorized, do(t, http.MethodGet, url, nil, "Authorization", "Bearer "+tok.Token).StatusCode)
}
