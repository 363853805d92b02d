package a2anats

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/a2aproject/a2a-go/v2/a2asrv"
)

// HTTPHandler is the HTTP binding: the public card at /.well-known/agent-card.json and the
// JSON-RPC endpoint at JSONRPCPath (a2a-go's handler, the same one behind NATS), which requires
// "Authorization: Bearer <token>".
func (s *Server) HTTPHandler(token string) http.Handler {
	mux := http.NewServeMux()
	mux.Handle(a2asrv.WellKnownAgentCardPath, a2asrv.NewStaticAgentCardHandler(s.card))
	mux.Handle(JSONRPCPath, requireBearer(token, s.namespace+"/"+s.name, a2asrv.NewJSONRPCHandler(s.handler, a2asrv.WithTransportPanicHandler(s.panicked))))
	return mux
}

// requireBearer answers 401 with a JSON-RPC "unauthenticated" error (-31401) unless the request
// carries the token, compared in constant time.
func requireBearer(token, agent string, next http.Handler) http.Handler {
	want := []byte(token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(got), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="opsmesh"`)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write(encodeError(nil, a2a.NewError(a2a.ErrUnauthenticated,
				fmt.Sprintf("agent %s: send the agent's token as 'Authorization: Bearer <token>'", agent))))
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Server) startHTTP() {
	s.httpSrv = &http.Server{Handler: s.HTTPHandler(s.cfg.http.BearerToken), ReadHeaderTimeout: 10 * time.Second}
	s.httpErr = make(chan error, 1)
	go func() {
		err := s.httpSrv.Serve(s.cfg.http.Listener)
		if errors.Is(err, http.ErrServerClosed) {
			err = errHTTPClosed
		} else {
			s.log.Error("HTTP binding stopped", "error", err)
		}
		s.httpErr <- err
	}()
}
