package graphtest

import (
	"encoding/json"
	"fmt"
	"strings"
)

// itemValue renders an item attachment's $value as Graph does for each item
// kind (api-reference/v1.0/api/attachment-get.md, "Get the raw contents of
// an item attachment"): MIME for a message, iCalendar for an event, vCard
// for a contact. The rendering here is minimal: the item's own fields in
// the right format, not Exchange's full output.
func itemValue(item json.RawMessage) (contentType string, body []byte, ok bool) {
	var it struct {
		ODataType   string `json:"@odata.type"`
		Subject     string `json:"subject"`
		GivenName   string `json:"givenName"`
		Surname     string `json:"surname"`
		DisplayName string `json:"displayName"`
		Body        *struct {
			Content string `json:"content"`
		} `json:"body"`
	}
	if json.Unmarshal(item, &it) != nil {
		return "", nil, false
	}
	text := ""
	if it.Body != nil {
		text = it.Body.Content
	}
	var b strings.Builder
	switch strings.ToLower(strings.TrimPrefix(it.ODataType, "#")) {
	case "microsoft.graph.message":
		fmt.Fprintf(&b, "MIME-Version: 1.0\r\nSubject: %s\r\nContent-Type: text/plain; charset=\"utf-8\"\r\n\r\n%s\r\n", it.Subject, text)
		return "message/rfc822", []byte(b.String()), true
	case "microsoft.graph.event":
		fmt.Fprintf(&b, "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nSUMMARY:%s\r\nDESCRIPTION:%s\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n", it.Subject, text)
		return "text/calendar", []byte(b.String()), true
	case "microsoft.graph.contact":
		fn := it.DisplayName
		if fn == "" {
			fn = strings.TrimSpace(it.GivenName + " " + it.Surname)
		}
		fmt.Fprintf(&b, "BEGIN:VCARD\r\nVERSION:3.0\r\nN:%s;%s\r\nFN:%s\r\nEND:VCARD\r\n", it.Surname, it.GivenName, fn)
		return "text/vcard", []byte(b.String()), true
	}
	return "", nil, false
}
