// A receiver for wxgate's events (Go 1.21+):
//   go get github.com/standard-webhooks/standard-webhooks/libraries
// WXGATE_WEBHOOK_SECRET=whsec_… PORT=8080 go run receiver.go
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"sync"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

type Event struct {
	Type      string          `json:"type"`
	Timestamp string          `json:"timestamp"`
	Data      json.RawMessage `json:"data"`
}

// webhook-ids already handled: delivery is at least once. In production keep them in your
// database (a table with the id as its primary key), so a restart does not forget them.
var (
	seen   = map[string]bool{}
	seenMu sync.Mutex
)

func handle(ev Event) {
	// The real work: update your CRM, notify someone, … (`data` is described in the event table).
	log.Printf("handled %s %s", ev.Type, ev.Data)
}

func main() {
	wh, err := standardwebhooks.NewWebhook(os.Getenv("WXGATE_WEBHOOK_SECRET")) // the secret POST /api/webhooks showed once
	if err != nil {
		log.Fatal(err)
	}
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		// Verify the raw bytes, before any JSON parsing: the signature covers the body exactly as sent.
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, "cannot read the body", http.StatusBadRequest)
			return
		}
		if err := wh.Verify(body, r.Header); err != nil { // a bad signature or a timestamp off by > 5 min
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var ev Event
		if err := json.Unmarshal(body, &ev); err != nil {
			http.Error(w, "bad JSON", http.StatusBadRequest)
			return
		}
		// Answer at once (wxgate waits 10 s, then retries), then do the work.
		w.WriteHeader(http.StatusNoContent)
		id := r.Header.Get("webhook-id")
		seenMu.Lock()
		dup := seen[id]
		seen[id] = true
		seenMu.Unlock()
		if !dup {
			go handle(ev)
		}
	})
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	ln, err := net.Listen("tcp", "127.0.0.1:"+port)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("listening on http://%s\n", ln.Addr())
	log.Fatal(http.Serve(ln, nil))
}
