package graphtest

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// handleGraph serves the Graph listener: authenticate, route, find the
// mailbox, take an in-flight slot, find the event, then run the operation.
func (s *Server) handleGraph(c *call) {
	if !s.authorize(c) {
		return
	}
	rt, err := parseRoute(c.r.URL.EscapedPath())
	if err != nil {
		c.fail(http.StatusBadRequest, "BadRequest", err.Error())
		return
	}
	if rt.target == targetUploadSession && !s.takesSessions(rt) {
		// Source: GRAPH-FACTS.md, Routes (route-6, route-8; attachment-createuploadsession.md [doc]; elsewhere [unknown], assumed).
		// Documented only on /me/events/{id} and /users/{id}/events/{id}.
		if s.opts.UndocumentedSessionRoutes == SessionRoutesNotFound && rt.owner != ownerGroup {
			c.fail(http.StatusNotFound, "ErrorItemNotFound", "The specified object was not found in the store.")
		} else {
			c.fail(http.StatusBadRequest, "BadRequest", "Resource not found for the segment 'createUploadSession'.")
		}
		return
	}

	if bad := s.opts.MalformedID; bad != nil {
		for _, id := range []string{rt.groupID, rt.calendarID, rt.eventID, rt.attachmentID} {
			if id != "" && bad(id) {
				// microsoft-graph-docs#2268: an id Exchange cannot parse.
				c.fail(http.StatusBadRequest, "ErrorInvalidIdMalformed", "Id is malformed.")
				return
			}
		}
	}
	s.mu.Lock()
	mb := s.ownerLocked(rt)
	s.mu.Unlock()
	if mb == nil {
		s.unknownOwner(c, rt)
		return
	}
	if mb.noMailbox {
		// Source: GRAPH-FACTS.md, Mailboxes and users (mbx-1, mbx-2; KB 4462988 [doc]; MicrosoftDocs/azure-docs#85666 [user]).
		c.fail(http.StatusNotFound, "MailboxNotEnabledForRESTAPI", s.opts.NoMailboxMessage)
		return
	}
	if !c.admit(mb) {
		return
	}
	defer c.releaseSlot()
	if !c.wait() || !c.chargeRequest(mb) {
		return
	}
	defer c.chargeRead(mb)

	s.mu.Lock()
	ev := s.eventLocked(mb, rt)
	s.mu.Unlock()
	if ev == nil {
		c.fail(http.StatusNotFound, "ErrorItemNotFound", "The specified object was not found in the store.")
		return
	}

	m := c.r.Method
	switch rt.target {
	case targetEvent:
		switch m {
		case http.MethodGet:
			s.getEvent(c, mb, ev)
		case http.MethodPatch:
			s.updateEvent(c, mb, ev)
		default:
			c.methodNotAllowed()
		}
	case targetCollection:
		switch m {
		case http.MethodPost:
			s.createAttachment(c, mb, ev)
		case http.MethodGet:
			s.listAttachments(c, mb, ev)
		default:
			c.methodNotAllowed()
		}
	case targetItem:
		switch m {
		case http.MethodGet:
			s.getAttachment(c, mb, ev, rt.attachmentID)
		case http.MethodDelete:
			s.deleteAttachment(c, ev, rt.attachmentID)
		default:
			c.methodNotAllowed()
		}
	case targetValue:
		if m != http.MethodGet {
			c.methodNotAllowed()
			return
		}
		s.getAttachmentValue(c, ev, rt.attachmentID)
	case targetUploadSession:
		if m != http.MethodPost {
			c.methodNotAllowed()
			return
		}
		s.createUploadSession(c, mb, ev)
	}
}

func (c *call) methodNotAllowed() {
	c.fail(http.StatusMethodNotAllowed, "ErrorInvalidRequest",
		fmt.Sprintf("The HTTP method '%s' is not allowed on this resource.", c.r.Method))
}

// authorize checks the bearer token. A revoked or expired token gets a CAE
// claims challenge, which azcore's BearerTokenPolicy answers by fetching a
// new token with those claims.
func (s *Server) authorize(c *call) bool {
	scheme, tok, _ := strings.Cut(c.r.Header.Get("Authorization"), " ")
	if !strings.EqualFold(scheme, "Bearer") || tok == "" {
		c.fail(http.StatusUnauthorized, "InvalidAuthenticationToken", "Access token is empty.")
		return false
	}
	switch s.cred.check(tok) {
	case tokenValid:
		return true
	case tokenExpired:
		claims := fmt.Sprintf(`{"access_token":{"nbf":{"essential":true,"value":"%d"}}}`, time.Now().Unix())
		c.w.Header().Set("WWW-Authenticate", bearerChallenge+`, error="insufficient_claims", claims="`+
			base64.StdEncoding.EncodeToString([]byte(claims))+`"`)
		c.fail(http.StatusUnauthorized, "InvalidAuthenticationToken", "Lifetime validation failed, the token is expired.")
	default:
		c.w.Header().Set("WWW-Authenticate", bearerChallenge+`, error="invalid_token"`)
		c.fail(http.StatusUnauthorized, "InvalidAuthenticationToken", "IDX14100: JWT is not well formed.")
	}
	return false
}

// takesSessions reports whether createUploadSession is served on the
// route: the documented /me/events/{id} and /users/{id}/events/{id}, and
// with SessionRoutesAccepted every user event route.
func (s *Server) takesSessions(rt *route) bool {
	if rt.owner == ownerGroup {
		return false
	}
	return rt.loc == locEvents || s.opts.UndocumentedSessionRoutes == SessionRoutesAccepted
}

// unknownOwner answers a route whose user or group does not exist, per
// Options.UnknownUser for users. Unknown groups answer ErrorItemNotFound.
func (s *Server) unknownOwner(c *call, rt *route) {
	if rt.owner == ownerUser {
		switch s.opts.UnknownUser {
		case UnknownUserInvalidUser:
			// Source: GRAPH-FACTS.md, Mailboxes and users (mbx-4; microsoft-graph-docs#7909, microsoft-graph-explorer-v4#4038 [user]).
			// A UPN is echoed as sent, an object id as {id}@{tenantId}.
			id := rt.ownerID
			if !strings.Contains(id, "@") {
				id += "@" + s.tenant
			}
			c.fail(http.StatusNotFound, "ErrorInvalidUser", "The requested user '"+id+"' is invalid.")
			return
		case UnknownUserResourceNotFound:
			// Source: GRAPH-FACTS.md, Mailboxes and users (mbx-5; msgraph-sdk-java#260 [user]).
			c.fail(http.StatusNotFound, "ResourceNotFound", "Resource could not be discovered.")
			return
		}
	}
	c.fail(http.StatusNotFound, "ErrorItemNotFound", "The specified object was not found in the store.")
}

// ownerLocked finds the route's mailbox; users are found by id or UPN.
func (s *Server) ownerLocked(rt *route) *Mailbox {
	switch rt.owner {
	case ownerMe:
		return s.me
	case ownerUser:
		return s.findUserLocked(rt.ownerID)
	}
	return s.groups[rt.ownerID]
}

// eventLocked finds the route's event, which must be in the calendar (of
// the calendar group) the route names.
func (s *Server) eventLocked(mb *Mailbox, rt *route) *event {
	var cal *Calendar
	switch rt.loc {
	case locEvents:
		return mb.eventLocked(rt.eventID)
	case locCalendar:
		cal = mb.calendar
	case locCalendars, locDefaultGroupCalendar:
		cal = mb.defaultGroup.calendarLocked(rt.calendarID)
	case locGroupCalendar:
		if g := mb.groupLocked(rt.groupID); g != nil {
			cal = g.calendarLocked(rt.calendarID)
		}
	}
	if cal == nil {
		return nil
	}
	return cal.eventLocked(rt.eventID)
}

// ownerSegment is the mailbox as @odata.context and Location name it.
func ownerSegment(mb *Mailbox) string {
	return ownerName(mb) + "('" + contextEscape(mb.id) + "')"
}

// ownerName is the mailbox's collection in OData key paths.
func ownerName(mb *Mailbox) string {
	if mb.isGroup {
		return "groups"
	}
	return "users"
}
