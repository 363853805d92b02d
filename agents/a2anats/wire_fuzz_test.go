package a2anats

import (
	"encoding/json"
	"errors"
	"testing"
)

// FuzzDecodeRequest feeds the NATS request decoder arbitrary bodies (seeds in
// testdata/fuzz/FuzzDecodeRequest). It must never panic; a decoded call must name a known method
// with typed params; a failure must carry one of the binding's error codes, and the error reply
// built from it must be valid JSON-RPC with the request's id (or null).
func FuzzDecodeRequest(f *testing.F) {
	f.Add([]byte(`{"jsonrpc":"2.0","id":1,"method":"SendMessage","params":{"message":{"messageId":"m","role":"ROLE_USER","parts":[{"text":"hi"}]}}}`))
	f.Add([]byte(`{"jsonrpc":"2.0","id":"x","method":"GetTask","params":{"id":"t"}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		call, err := DecodeRequest(body)
		if call == nil {
			t.Fatal("DecodeRequest returned no call")
		}
		if err == nil {
			if _, ok := paramTypes[call.Method]; !ok || call.Params == nil {
				t.Fatalf("decoded method %q with params %T", call.Method, call.Params)
			}
			if !validID(call.ID) {
				t.Fatalf("decoded an invalid id %s", call.ID)
			}
			return
		}
		known := false
		for _, c := range codes {
			if errors.Is(err, c.err) {
				known = true
				break
			}
		}
		if !known {
			t.Fatalf("error %v carries none of the binding's codes", err)
		}
		var resp struct {
			JSONRPC string          `json:"jsonrpc"`
			ID      json.RawMessage `json:"id"`
			Error   *rpcError       `json:"error"`
		}
		out := encodeError(call.ID, err)
		if jerr := json.Unmarshal(out, &resp); jerr != nil || resp.JSONRPC != "2.0" || resp.Error == nil || resp.Error.Code == 0 {
			t.Fatalf("error reply %q is not a JSON-RPC error (%v)", out, jerr)
		}
		if !validID(resp.ID) {
			t.Fatalf("error reply carries an invalid id %s", resp.ID)
		}
	})
}
