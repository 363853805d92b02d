#!/usr/bin/env node
// check.mjs drives one of opsmesh's MCP servers with the stock TypeScript MCP SDK client
// (@modelcontextprotocol/sdk), the way a new user's client does, and checks the typed contract of
// its tools (MCP 2025-06-18):
//
//   * every listed tool declares an outputSchema (except tools the plan names in textOnly), and
//     the schema compiles in Ajv;
//   * every call of the plan succeeds through the SDK (whose own output validation stays on) and
//     answers as the plan expects (a result, or a tool error with isError);
//   * every result's structuredContent validates against the tool's outputSchema, checked here
//     with Ajv as well, so that a failure names the tool and the field.
//
// Usage:
//   node check.mjs --plan plan.json --url http://127.0.0.1:8080/mcp [--token-file FILE]
//   node check.mjs --plan plan.json --stdio -- opsmesh mcp cluster --kubeconfig FILE
//
// The bearer token for --url is read from --token-file, else from $MCP_TOKEN. The plan is JSON:
//
//   {
//     "callEveryTool": true,          // fail for a listed tool the plan does not call
//     "textOnly": ["tool"],           // tools allowed to have no outputSchema (default none)
//     "calls": [
//       {"tool": "namespaces_list", "arguments": {}},
//       {"tool": "pod_logs", "arguments": {"namespace": "a", "name": "p"}, "isError": true}
//     ]
//   }
//
// It prints a JSON report on stdout (per tool: whether it has an outputSchema, the calls made,
// whether each result was valid, and the errors) and a summary on stderr, and exits 0 when every
// check passed, 1 when one failed, and 2 when it could not run (bad usage, no connection).
import { readFileSync } from 'node:fs';
import process from 'node:process';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CallToolResultSchema, ErrorCode, McpError } from '@modelcontextprotocol/sdk/types.js';
import Ajv from 'ajv';
import Ajv2019 from 'ajv/dist/2019.js';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';

const usage = `usage: node check.mjs --plan PLAN.json (--url URL [--token-file FILE] | --stdio -- COMMAND [ARGS...]) [--timeout-ms N]`;

function parseArgs(argv) {
  const o = { timeoutMs: 60000 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value\n${usage}`);
      return argv[++i];
    };
    switch (a) {
      case '--plan': o.plan = next(); break;
      case '--url': o.url = next(); break;
      case '--token-file': o.tokenFile = next(); break;
      case '--timeout-ms': o.timeoutMs = Number(next()); break;
      case '--stdio':
        if (argv[i + 1] === '--') i++;
        o.command = argv.slice(i + 1);
        i = argv.length;
        break;
      default: throw new Error(`unknown argument ${JSON.stringify(a)}\n${usage}`);
    }
  }
  if (!o.plan) throw new Error(`--plan is required\n${usage}`);
  if (!o.url === !(o.command && o.command.length)) throw new Error(`give exactly one of --url and --stdio COMMAND\n${usage}`);
  if (!(o.timeoutMs > 0)) throw new Error(`--timeout-ms must be a positive number of milliseconds`);
  return o;
}

function readPlan(path) {
  let plan;
  try {
    plan = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new Error(`plan ${path}: ${e.message}`);
  }
  if (!Array.isArray(plan.calls)) throw new Error(`plan ${path}: "calls" must be a list of {"tool", "arguments", "isError"}`);
  for (const [i, c] of plan.calls.entries()) {
    if (typeof c.tool !== 'string' || !c.tool) throw new Error(`plan ${path}: calls[${i}] has no "tool"`);
  }
  return { callEveryTool: false, textOnly: [], ...plan };
}

// validatorFor compiles a tool's outputSchema with the Ajv dialect its $schema names (draft-07,
// Ajv's default and the SDK's, when it names none). Unlike the SDK, it also checks the schema
// itself against its meta-schema, so a malformed schema is reported as such.
const ajvs = {};
function ajvFor(schema) {
  const s = typeof schema.$schema === 'string' ? schema.$schema : '';
  const kind = s.includes('2020-12') ? '2020' : s.includes('2019-09') ? '2019' : '07';
  if (!ajvs[kind]) {
    const Class = { '2020': Ajv2020, '2019': Ajv2019, '07': Ajv }[kind];
    ajvs[kind] = new Class({ strict: false, allErrors: true, validateSchema: true, validateFormats: true });
    addFormats(ajvs[kind]);
  }
  return ajvs[kind];
}

function ajvErrors(errors) {
  return (errors ?? []).map((e) => {
    const where = e.instancePath || '(the top level)';
    const extra = e.params && Object.keys(e.params).length ? ' ' + JSON.stringify(e.params) : '';
    return `${where}: ${e.message}${extra}`;
  });
}

function textOf(result) {
  return (result?.content ?? []).filter((c) => c.type === 'text').map((c) => c.text).join('\n');
}

function clip(s, n = 600) {
  return s.length > n ? s.slice(0, n) + `… (${s.length - n} more characters)` : s;
}

async function main() {
  let opts, plan;
  try {
    opts = parseArgs(process.argv.slice(2));
    plan = readPlan(opts.plan);
  } catch (e) {
    console.error(`check.mjs: ${e.message}`);
    return 2;
  }

  let transport;
  if (opts.url) {
    let token = process.env.MCP_TOKEN ?? '';
    if (opts.tokenFile) {
      try {
        token = readFileSync(opts.tokenFile, 'utf8').trim();
      } catch (e) {
        console.error(`check.mjs: --token-file: ${e.message}`);
        return 2;
      }
    }
    const headers = token ? { Authorization: `Bearer ${token}` } : {};
    transport = new StreamableHTTPClientTransport(new URL(opts.url), { requestInit: { headers } });
  } else {
    const [command, ...args] = opts.command;
    // The server's log goes to this process's stderr, where the Go test shows it on failure.
    transport = new StdioClientTransport({ command, args, env: { ...process.env }, stderr: 'inherit' });
  }
  const target = opts.url ?? opts.command.join(' ');

  // The SDK's own output validation stays on (its default Ajv validator): a call whose
  // structuredContent the SDK rejects fails here with the SDK's message.
  const client = new Client({ name: 'opsmesh-tsclient-check', version: '1.0.0' }, { capabilities: {} });
  const report = { target, server: null, ok: false, tools: [], failures: [] };
  const fail = (msg) => report.failures.push(msg);

  try {
    await client.connect(transport, { timeout: opts.timeoutMs });
  } catch (e) {
    report.failures.push(`connecting to ${target}: ${e.message}`);
    console.log(JSON.stringify(report, null, 2));
    console.error(`check.mjs: cannot connect to ${target}: ${e.message}`);
    return 2;
  }
  report.server = client.getServerVersion() ?? null;

  try {
    // Every page of the tool list.
    const listed = [];
    let cursor;
    do {
      const page = await client.listTools(cursor ? { cursor } : {}, { timeout: opts.timeoutMs });
      listed.push(...page.tools);
      cursor = page.nextCursor;
    } while (cursor);
    if (listed.length === 0) fail(`${target} lists no tools`);

    const byName = new Map();
    for (const tool of listed) {
      const entry = { name: tool.name, outputSchema: !!tool.outputSchema, schemaOk: false, errors: [], calls: [] };
      report.tools.push(entry);
      byName.set(tool.name, { tool, entry, validate: null });
      if (!tool.outputSchema) {
        if (!plan.textOnly.includes(tool.name)) {
          const msg = 'lists no outputSchema (every data tool must declare one, MCP 2025-06-18)';
          entry.errors.push(msg);
          fail(`tool ${tool.name}: ${msg}`);
        }
        continue;
      }
      if (tool.outputSchema.type !== 'object') {
        const msg = `outputSchema has type ${JSON.stringify(tool.outputSchema.type)}; MCP requires "object"`;
        entry.errors.push(msg);
        fail(`tool ${tool.name}: ${msg}`);
      }
      try {
        byName.get(tool.name).validate = ajvFor(tool.outputSchema).compile(tool.outputSchema);
        entry.schemaOk = true;
      } catch (e) {
        const msg = `outputSchema does not compile in Ajv: ${e.message}`;
        entry.errors.push(msg);
        fail(`tool ${tool.name}: ${msg}`);
      }
    }

    for (const c of plan.calls) {
      const known = byName.get(c.tool);
      if (!known) {
        fail(`plan calls tool ${c.tool}, which ${target} does not list (it lists: ${[...byName.keys()].sort().join(', ')})`);
        continue;
      }
      const { tool, entry, validate } = known;
      const wantError = !!c.isError;
      const call = { arguments: c.arguments ?? {}, expectError: wantError, isError: null, structuredContent: false, valid: null, errors: [] };
      entry.calls.push(call);
      const bad = (msg) => {
        call.errors.push(msg);
        fail(`tool ${tool.name}(${JSON.stringify(call.arguments)}): ${msg}`);
      };
      const params = { name: tool.name, arguments: call.arguments };
      let result;
      try {
        result = await client.callTool(params, undefined, { timeout: opts.timeoutMs });
      } catch (e) {
        // The SDK throws when a tool with an outputSchema answers without structuredContent, or
        // with structuredContent that does not match the schema, and on protocol errors.
        bad(`the SDK client refused the call or its result: ${e.message}`);
        if (!(e instanceof McpError) || e.code !== ErrorCode.InvalidParams && e.code !== ErrorCode.InvalidRequest) continue;
        // The SDK refused the result: ask again without its check, so that the checks below say
        // which field is wrong.
        try {
          result = await client.request({ method: 'tools/call', params }, CallToolResultSchema, { timeout: opts.timeoutMs });
        } catch (e2) {
          bad(`calling it again to see the result failed: ${e2.message}`);
          continue;
        }
      }
      call.isError = !!result.isError;
      call.structuredContent = result.structuredContent !== undefined;
      if (call.isError !== wantError) {
        bad(wantError
          ? `answered with a result where the plan expects a tool error: ${clip(textOf(result))}`
          : `answered with a tool error: ${clip(textOf(result))}`);
      }
      if (!(result.content ?? []).some((c) => c.type === 'text')) {
        bad('answered without a text content block (models read the text; it stays beside structuredContent)');
      }
      if (!tool.outputSchema) continue;
      if (result.structuredContent === undefined) {
        if (!call.isError) bad('has an outputSchema but answered without structuredContent');
        continue;
      }
      const sc = result.structuredContent;
      if (sc === null || typeof sc !== 'object' || Array.isArray(sc)) {
        bad(`structuredContent is not a JSON object: ${clip(JSON.stringify(sc))}`);
        call.valid = false;
        continue;
      }
      if (!validate) {
        call.valid = false;
        bad('structuredContent cannot be checked: the outputSchema does not compile');
        continue;
      }
      call.valid = validate(sc);
      if (!call.valid) {
        for (const msg of ajvErrors(validate.errors)) bad(`structuredContent does not match the outputSchema at ${msg}`);
      }
    }

    if (plan.callEveryTool) {
      for (const { tool, entry } of byName.values()) {
        if (entry.calls.length === 0) {
          const msg = 'is listed but the plan does not call it (add a call)';
          entry.errors.push(msg);
          fail(`tool ${tool.name}: ${msg}`);
        }
      }
    }
  } catch (e) {
    fail(`talking to ${target}: ${e.message}`);
  } finally {
    await client.close().catch(() => {});
  }

  report.ok = report.failures.length === 0;
  console.log(JSON.stringify(report, null, 2));
  const calls = report.tools.reduce((n, t) => n + t.calls.length, 0);
  console.error(`check.mjs: ${target}: ${report.tools.length} tools listed, ${calls} calls, ${report.failures.length} failures`);
  for (const f of report.failures) console.error(`  FAIL ${f}`);
  return report.ok ? 0 : 1;
}

process.exitCode = await main();
