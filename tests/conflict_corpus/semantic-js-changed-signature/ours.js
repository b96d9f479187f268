"use strict";

const http = require("http");

function createServer({ port, host = "127.0.0.1", logger = console }) {
  const server = http.createServer((req, res) => {
    logger.log(`${req.method} ${req.url}`);
    res.setHeader("content-type", "application/json");
    res.end(JSON.stringify({ ok: true, path: req.url }));
  });
  return {
    listen: () => new Promise((resolve) => server.listen(port, host, resolve)),
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

async function main() {
  const port = Number(process.env.PCC_PORT || 7070);
  const server = createServer({ port, logger: console });
  await server.listen();
  console.log(`pcc-mcp listening on ${port}`);
  process.on("SIGTERM", () => server.close());
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
