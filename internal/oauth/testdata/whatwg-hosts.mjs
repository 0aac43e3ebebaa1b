// Reads a JSON array of URIs on stdin and writes a JSON object mapping each to
// the host a WHATWG URL parser (Node's URL) finds in it, or null when it does
// not parse. Run through: go test ./internal/oauth -run WHATWG -update-whatwg
let input = "";
process.stdin.setEncoding("utf8");
for await (const chunk of process.stdin) input += chunk;
const out = {};
for (const u of JSON.parse(input).sort()) {
  try {
    out[u] = new URL(u).host;
  } catch {
    out[u] = null;
  }
}
process.stdout.write(JSON.stringify(out, null, 1) + "\n");
