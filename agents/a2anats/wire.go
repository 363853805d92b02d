package a2anats

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/a2aproject/a2a-go/v2/errordetails"
)

// JSON-RPC method names of A2A 1.0 (§9), the same over NATS as over HTTP.
const (
	MethodSendMessage          = "SendMessage"
	MethodSendStreamingMessage = "SendStreamingMessage"
	MethodGetTask              = "GetTask"
	MethodListTasks            = "ListTasks"
	MethodCancelTask           = "CancelTask"
	MethodSubscribeToTask      = "SubscribeToTask"
	MethodGetPushConfig        = "GetTaskPushNotificationConfig"
	MethodCreatePushConfig     = "CreateTaskPushNotificationConfig"
	MethodListPushConfigs      = "ListTaskPushNotificationConfigs"
	MethodDeletePushConfig     = "DeleteTaskPushNotificationConfig"
	MethodGetExtendedAgentCard = "GetExtendedAgentCard"
)

// rpcVersion is the only JSON-RPC version there is.
const rpcVersion = "2.0"

// JSON-RPC 2.0 and A2A 1.0 error codes (A2A §5.4 and §9.5). They are the codes a2a-go's HTTP
// JSON-RPC binding uses, so an error reads the same over both bindings.
const (
	CodeParseError                   = -32700
	CodeInvalidRequest               = -32600
	CodeMethodNotFound               = -32601
	CodeInvalidParams                = -32602
	CodeInternalError                = -32603
	CodeServerError                  = -32000
	CodeTaskNotFound                 = -32001
	CodeTaskNotCancelable            = -32002
	CodePushNotificationNotSupported = -32003
	CodeUnsupportedOperation         = -32004
	CodeContentTypeNotSupported      = -32005
	CodeInvalidAgentResponse         = -32006
	CodeExtendedCardNotConfigured    = -32007
	CodeExtensionSupportRequired     = -32008
	CodeVersionNotSupported          = -32009
	CodeUnauthenticated              = -31401
	CodeUnauthorized                 = -31403
)

// codes maps each code to a2a-go's sentinel error, in the order errors are matched (the more
// specific A2A errors first, the generic JSON-RPC ones last).
var codes = []struct {
	code int
	err  error
}{
	{CodeTaskNotFound, a2a.ErrTaskNotFound},
	{CodeTaskNotCancelable, a2a.ErrTaskNotCancelable},
	{CodePushNotificationNotSupported, a2a.ErrPushNotificationNotSupported},
	{CodeUnsupportedOperation, a2a.ErrUnsupportedOperation},
	{CodeContentTypeNotSupported, a2a.ErrUnsupportedContentType},
	{CodeInvalidAgentResponse, a2a.ErrInvalidAgentResponse},
	{CodeExtendedCardNotConfigured, a2a.ErrExtendedCardNotConfigured},
	{CodeExtensionSupportRequired, a2a.ErrExtensionSupportRequired},
	{CodeVersionNotSupported, a2a.ErrVersionNotSupported},
	{CodeUnauthenticated, a2a.ErrUnauthenticated},
	{CodeUnauthorized, a2a.ErrUnauthorized},
	{CodeParseError, a2a.ErrParseError},
	{CodeInvalidRequest, a2a.ErrInvalidRequest},
	{CodeMethodNotFound, a2a.ErrMethodNotFound},
	{CodeInvalidParams, a2a.ErrInvalidParams},
	{CodeServerError, a2a.ErrServerError},
	{CodeInternalError, a2a.ErrInternalError},
}

// rpcError is a JSON-RPC error object. Data carries google.rpc-style typed details, the first an
// ErrorInfo with the A2A reason (e.g. TASK_NOT_FOUND), as a2a-go writes them.
type rpcError struct {
	Code    int                   `json:"code"`
	Message string                `json:"message"`
	Data    []*errordetails.Typed `json:"data,omitempty"`
}

func (e *rpcError) Error() string { return fmt.Sprintf("JSON-RPC error %d: %s", e.Code, e.Message) }

// toRPCError turns an error from a2a-go's handler (or ours) into its JSON-RPC error object.
func toRPCError(err error) *rpcError {
	var re *rpcError
	if errors.As(err, &re) {
		return re
	}
	code := CodeInternalError
	for _, c := range codes {
		if errors.Is(err, c.err) {
			code = c.code
			break
		}
	}
	var data []*errordetails.Typed
	var ae *a2a.Error
	if errors.As(err, &ae) {
		if len(ae.Details) > 0 {
			data = append(data, errordetails.NewFromStruct(ae.Details))
		}
	}
	data = append(data, errordetails.NewErrorInfo(a2a.ErrorReason(sentinelOf(code)), a2a.ProtocolDomain,
		map[string]string{"timestamp": time.Now().UTC().Format(time.RFC3339)}))
	return &rpcError{Code: code, Message: err.Error(), Data: data}
}

func sentinelOf(code int) error {
	for _, c := range codes {
		if c.code == code {
			return c.err
		}
	}
	return a2a.ErrInternalError
}

// fromRPCError turns a JSON-RPC error object back into an error that errors.Is matches against
// a2a-go's sentinels (a2a.ErrTaskNotFound, ...), as a2a-go's own clients do.
func fromRPCError(e *rpcError) error {
	msg := e.Message
	if msg == "" {
		msg = sentinelOf(e.Code).Error()
	}
	out := a2a.NewError(sentinelOf(e.Code), msg)
	for _, d := range e.Data {
		if d != nil && d.TypeURL != errordetails.ErrorInfoType {
			out.TypedDetails = append(out.TypedDetails, d)
			if out.Details == nil {
				out.Details = d.Value
			}
		}
	}
	return out
}

// rpcRequest is a JSON-RPC request as it arrives. ID stays raw: a string, a number or null,
// echoed back unchanged.
type rpcRequest struct {
	JSONRPC string          `json:"jsonrpc"`
	Method  string          `json:"method"`
	Params  json.RawMessage `json:"params,omitempty"`
	ID      json.RawMessage `json:"id,omitempty"`
}

// rpcResponse is a JSON-RPC response (one per request, or one per event when streaming).
type rpcResponse struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Result  any             `json:"result,omitempty"`
	Error   *rpcError       `json:"error,omitempty"`
}

// rpcClientResponse is a response as a client reads it.
type rpcClientResponse struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Result  json.RawMessage `json:"result,omitempty"`
	Error   *rpcError       `json:"error,omitempty"`
}

// Call is a decoded request: its method, its id (raw JSON, null when absent) and its typed
// params, one of the a2a request types (*a2a.SendMessageRequest for SendMessage, ...).
type Call struct {
	Method string
	ID     json.RawMessage
	Params any
}

var nullID = json.RawMessage("null")

// DecodeRequest decodes one JSON-RPC request of the NATS binding. On failure it returns the
// request's id when it could read one and the JSON-RPC error to answer with: parse error for
// bad JSON, invalid request for a bad envelope, method not found for an unknown method, invalid
// params for params of the wrong shape. It never panics on any input.
func DecodeRequest(data []byte) (*Call, error) {
	var req rpcRequest
	if err := json.Unmarshal(data, &req); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			return &Call{ID: nullID}, a2a.NewError(a2a.ErrInvalidRequest, "invalid request: the JSON-RPC envelope has a field of the wrong type: "+err.Error())
		}
		return &Call{ID: nullID}, a2a.NewError(a2a.ErrParseError, "parse error: the request body is not one JSON value: "+err.Error())
	}
	id := req.ID
	if len(id) == 0 {
		id = nullID
	}
	if !validID(id) {
		return &Call{ID: nullID}, a2a.NewError(a2a.ErrInvalidRequest, "invalid request: id must be a string, a number or null")
	}
	call := &Call{Method: req.Method, ID: id}
	if req.JSONRPC != rpcVersion {
		return call, a2a.NewError(a2a.ErrInvalidRequest, fmt.Sprintf("invalid request: jsonrpc must be %q, got %q", rpcVersion, req.JSONRPC))
	}
	if req.Method == "" {
		return call, a2a.NewError(a2a.ErrInvalidRequest, "invalid request: method is missing")
	}
	newParams, ok := paramTypes[req.Method]
	if !ok {
		return call, a2a.NewError(a2a.ErrMethodNotFound, fmt.Sprintf("method %q is not an A2A 1.0 method; use one of SendMessage, SendStreamingMessage, GetTask, ListTasks, CancelTask, SubscribeToTask", req.Method))
	}
	params := newParams()
	raw := req.Params
	if len(raw) == 0 || bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		raw = []byte("{}")
	}
	if err := json.Unmarshal(raw, params); err != nil {
		return call, a2a.NewError(a2a.ErrInvalidParams, fmt.Sprintf("invalid params for %s: %v", req.Method, err))
	}
	call.Params = params
	return call, nil
}

var paramTypes = map[string]func() any{
	MethodSendMessage:          func() any { return &a2a.SendMessageRequest{} },
	MethodSendStreamingMessage: func() any { return &a2a.SendMessageRequest{} },
	MethodGetTask:              func() any { return &a2a.GetTaskRequest{} },
	MethodListTasks:            func() any { return &a2a.ListTasksRequest{} },
	MethodCancelTask:           func() any { return &a2a.CancelTaskRequest{} },
	MethodSubscribeToTask:      func() any { return &a2a.SubscribeToTaskRequest{} },
	MethodGetPushConfig:        func() any { return &a2a.GetTaskPushConfigRequest{} },
	MethodCreatePushConfig:     func() any { return &a2a.PushConfig{} },
	MethodListPushConfigs:      func() any { return &a2a.ListTaskPushConfigRequest{} },
	MethodDeletePushConfig:     func() any { return &a2a.DeleteTaskPushConfigRequest{} },
	MethodGetExtendedAgentCard: func() any { return &a2a.GetExtendedAgentCardRequest{} },
}

// validID says whether id (a JSON value) is a string, a number or null.
func validID(id json.RawMessage) bool {
	if len(id) == 0 || !json.Valid(id) {
		return false
	}
	switch c := id[0]; {
	case c == '"', c == '-', c >= '0' && c <= '9':
		return true
	}
	return string(id) == "null"
}

// streaming says whether a method answers with a stream of frames.
func streaming(method string) bool {
	return method == MethodSendStreamingMessage || method == MethodSubscribeToTask
}

func encodeResult(id json.RawMessage, result any) ([]byte, error) {
	return json.Marshal(rpcResponse{JSONRPC: rpcVersion, ID: id, Result: result})
}

func encodeError(id json.RawMessage, err error) []byte {
	if len(id) == 0 {
		id = nullID
	}
	b, mErr := json.Marshal(rpcResponse{JSONRPC: rpcVersion, ID: id, Error: toRPCError(err)})
	if mErr != nil {
		// Only a pathological error message could fail to marshal; answer without it.
		b, _ = json.Marshal(rpcResponse{JSONRPC: rpcVersion, ID: id, Error: &rpcError{Code: CodeInternalError, Message: "internal error"}})
	}
	return b
}
