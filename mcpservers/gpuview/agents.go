package gpuview

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"

	mcpclient "github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"
)

// agent is a node's GPU node agent: its pod and address, or why there is none.
type agent struct {
	pod string // namespace/name
	url string
	err error
}

// agentsByNode finds the node agents' pods and their endpoints, by node.
func (s *Server) agentsByNode(ctx context.Context) (map[string]agent, error) {
	pods, err := s.kube.agentPods(ctx, s.cfg.NodeAgentSelector, s.cfg.NodeAgentNamespace)
	if err != nil {
		return nil, err
	}
	out := map[string]agent{}
	for _, p := range pods {
		if p.Spec.NodeName == "" || p.DeletionTimestamp != nil || terminated(&p) {
			continue
		}
		a := agent{pod: p.Namespace + "/" + p.Name}
		port := s.cfg.NodeAgentPort
		if v, ok := p.Annotations[PortAnnotation]; ok {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 65535 {
				a.err = fmt.Errorf("node agent pod %s: annotation %s=%q is not a port number", a.pod, PortAnnotation, v)
			}
			port = n
		}
		if a.err == nil && p.Status.PodIP == "" {
			a.err = fmt.Errorf("node agent pod %s has no pod IP yet (phase %s)", a.pod, p.Status.Phase)
		}
		if a.err == nil {
			host := p.Status.PodIP
			if strings.Contains(host, ":") {
				host = "[" + host + "]"
			}
			a.url = fmt.Sprintf("http://%s:%d/mcp", host, port)
		}
		if prev, ok := out[p.Spec.NodeName]; ok && prev.err == nil {
			continue // keep a usable one
		}
		out[p.Spec.NodeName] = a
	}
	// A node that names its agent's URL (AgentURLAnnotation) is reached there.
	nodes, err := s.kube.nodes(ctx)
	if err != nil {
		return nil, err
	}
	for _, n := range nodes {
		v, ok := n.Annotations[AgentURLAnnotation]
		if !ok {
			continue
		}
		a := agent{pod: "of node " + n.Name + " (annotation " + AgentURLAnnotation + ")", url: v}
		if u, err := url.Parse(v); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			a.err = fmt.Errorf("node %s: annotation %s=%q is not an http(s) URL such as http://127.0.0.1:7101/mcp", n.Name, AgentURLAnnotation, v)
		}
		out[n.Name] = a
	}
	return out, nil
}

// noAgent says why a node has no utilization or health data from an agent.
func (s *Server) noAgent(node string) error {
	where := "in any namespace"
	if s.cfg.NodeAgentNamespace != "" {
		where = "in namespace " + s.cfg.NodeAgentNamespace
	}
	return fmt.Errorf("no GPU node agent pod on node %s (selector %s %s)", node, s.cfg.NodeAgentSelector, where)
}

// call calls tool on the agent and decodes its structured content (a contract type:
// contract.GPUMetrics, contract.GPUProcesses, contract.GPUHealthReport) into v. The text is for
// models and is never parsed.
func (s *Server) call(ctx context.Context, a agent, tool string, v any) error {
	if a.err != nil {
		return a.err
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.AgentTimeout)
	defer cancel()
	var opts []transport.StreamableHTTPCOption
	if s.cfg.NodeAgentToken != "" {
		opts = append(opts, transport.WithHTTPHeaders(map[string]string{"Authorization": "Bearer " + s.cfg.NodeAgentToken}))
	}
	c, err := mcpclient.NewStreamableHttpClient(a.url, opts...)
	if err != nil {
		return fmt.Errorf("node agent %s at %s: %w", a.pod, a.url, err)
	}
	defer c.Close()
	if err := c.Start(ctx); err != nil {
		return fmt.Errorf("node agent %s at %s: %w", a.pod, a.url, err)
	}
	init := mcp.InitializeRequest{}
	init.Params.ProtocolVersion = mcp.LATEST_PROTOCOL_VERSION
	init.Params.ClientInfo = mcp.Implementation{Name: "opsmesh-gpuview", Version: "0"}
	if _, err := c.Initialize(ctx, init); err != nil {
		return fmt.Errorf("node agent %s at %s unreachable: %w", a.pod, a.url, err)
	}
	req := mcp.CallToolRequest{}
	req.Params.Name = tool
	req.Params.Arguments = map[string]any{}
	res, err := c.CallTool(ctx, req)
	if err != nil {
		return fmt.Errorf("node agent %s: %s: %w", a.pod, tool, err)
	}
	if res.IsError {
		var b strings.Builder
		for _, content := range res.Content {
			if tc, ok := content.(mcp.TextContent); ok {
				b.WriteString(tc.Text)
			}
		}
		return fmt.Errorf("node agent %s: %s failed: %s", a.pod, tool, strings.TrimSpace(b.String()))
	}
	raw := res.RawStructuredContent
	if len(raw) == 0 && res.StructuredContent != nil {
		if raw, err = json.Marshal(res.StructuredContent); err != nil {
			return fmt.Errorf("node agent %s: %s: re-encoding its structured content: %w", a.pod, tool, err)
		}
	}
	if len(raw) == 0 {
		return fmt.Errorf("node agent %s: %s answered without structured content (an agent older than this server?): upgrade the GPU node agent", a.pod, tool)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("node agent %s: %s answered structured content this server cannot read: %w", a.pod, tool, err)
	}
	return nil
}

// eachAgent runs fn for each node concurrently, with that node's agent or the reason it has none.
func (s *Server) eachAgent(ctx context.Context, nodes []string, fn func(ctx context.Context, node string, a agent)) error {
	agents, err := s.agentsByNode(ctx)
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	for _, n := range nodes {
		a, ok := agents[n]
		if !ok {
			a = agent{err: s.noAgent(n)}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(ctx, n, a)
		}()
	}
	wg.Wait()
	return nil
}
