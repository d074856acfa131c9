// Starts Portkey's gateway (build/start-server.js, the first argument) for the benchmark; see bench/peers.py.
//
// Three things done from outside the package, none of them a change to how it handles a request:
// - it listens on 127.0.0.1 only: start-server.js passes no hostname, so Node would bind every
//   address, and the benchmark uses loopback only;
// - the global Request/Response stay Node's own. @hono/node-server's serve() swaps them for
//   lightweight classes whose headers Portkey then cannot append to, so every streamed chat
//   completion fails with `TypeError: immutable` (Portkey-AI/gateway issues 1389 and 1550);
//   restoring them is what serve()'s own `overrideGlobalObjects: false` would do;
// - BENCH_WORKERS > 1 forks that many processes with node:cluster (the gateway has no worker option).
import cluster from "node:cluster";
import net from "node:net";
import { pathToFileURL } from "node:url";

const workers = Number.parseInt(process.env.BENCH_WORKERS || "1", 10);

if (workers > 1 && cluster.isPrimary) {
  for (let i = 0; i < workers; i++) cluster.fork();
  cluster.on("exit", () => process.exit(1)); // a dead worker fails the run instead of hiding
} else {
  const NativeRequest = globalThis.Request;
  const NativeResponse = globalThis.Response;
  const listen = net.Server.prototype.listen;
  net.Server.prototype.listen = function (...args) {
    if (typeof args[0] === "number" && (args[1] === undefined || typeof args[1] === "function")) {
      args.splice(1, args[1] === undefined ? 1 : 0, "127.0.0.1");
    }
    // serve() has built its request listener (and swapped the globals) by the time it listens.
    for (const [name, value] of [["Request", NativeRequest], ["Response", NativeResponse]]) {
      Object.defineProperty(globalThis, name, { value, writable: true, configurable: true });
    }
    return listen.apply(this, args);
  };
  await import(pathToFileURL(process.argv[2]).href);
}
