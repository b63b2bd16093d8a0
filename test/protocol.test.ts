// The predict protocol (@adaptseg/core/protocol) and `adaptseg predict-server`: every request line is
// answered once, with a result or an error, whatever it holds (null, bad JSON, wrong types, negative
// sizes, an unknown method, a cancelled request), and good requests behind bad lines still get results.
import { strict as assert } from "node:assert";
import { execFileSync, spawn } from "node:child_process";
import { readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ErrorCodes, cancel, parseIncoming, parseResponse, predictParamsProblems, request, type PredictResult, type ResponseMessage } from "@adaptseg/core";
import { describeWithData, repoRoot, sharedData, tinyConfig, tmp } from "./helpers.js";

const cli = join(repoRoot, "packages/cli/dist/cli.js");

describe("predict protocol: parsing", () => {
  it("classifies every kind of line, never throwing", () => {
    assert.deepEqual(parseIncoming("   "), { type: "blank" });
    const codeOf = (line: string) => {
      const m = parseIncoming(line);
      assert.equal(m.type, "invalid", line);
      return m.type === "invalid" ? [m.id, m.error.code] : [];
    };
    assert.deepEqual(codeOf("null"), [null, ErrorCodes.InvalidRequest]);
    assert.deepEqual(codeOf("{oops"), [null, ErrorCodes.ParseError]);
    assert.deepEqual(codeOf("[1,2]"), [null, ErrorCodes.InvalidRequest]);
    assert.deepEqual(codeOf('"text"'), [null, ErrorCodes.InvalidRequest]);
    assert.deepEqual(codeOf('{"id":{},"method":"predict"}'), [null, ErrorCodes.InvalidRequest]);
    assert.deepEqual(codeOf('{"id":4,"image":"a.png"}'), [4, ErrorCodes.InvalidRequest]); // the flat pre-protocol shape
    assert.deepEqual(codeOf('{"method":"predict","params":{}}'), [null, ErrorCodes.InvalidRequest]); // no id
    assert.deepEqual(codeOf('{"method":"$/cancelRequest","params":{}}'), [null, ErrorCodes.InvalidRequest]);
    assert.deepEqual(parseIncoming(request(7, "predict", { image: "a.png" })), { type: "request", id: 7, method: "predict", params: { image: "a.png" } });
    assert.deepEqual(parseIncoming(cancel("x")), { type: "cancel", id: "x" });
  });

  it("predict params: each problem names its field", () => {
    assert.deepEqual(predictParamsProblems({ image: "a.png", maxWidth: 64, maxChars: 1000, alpha: 0 }), []);
    const p = predictParamsProblems({ image: "", maxWidth: -5, maxChars: 1.5, alpha: 2, extra: 1 });
    for (const f of ["params.image", "params.maxWidth", "params.maxChars", "params.alpha", "params.extra"])
      assert.ok(
        p.some((x) => x.startsWith(f)),
        `${f} in ${p.join(" | ")}`,
      );
    assert.match(predictParamsProblems(null)[0]!, /params must be an object, got null/);
  });

  it("a client reads responses, results and errors alike, and ignores other lines", () => {
    assert.deepEqual(parseResponse('{"jsonrpc":"2.0","id":1,"result":{"width":3}}'), { jsonrpc: "2.0", id: 1, result: { width: 3 } });
    assert.equal(parseResponse('{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"x"}}')?.error?.code, -32700);
    for (const l of ["null", "{", '{"id":1}', '{"id":[],"result":1}']) assert.equal(parseResponse(l), undefined, l);
  });
});

describeWithData("adaptseg predict-server", function () {
  this.timeout(300_000);
  let checkpoint: string;

  before(() => {
    // A 2-iteration tiny source-only run gives the server a checkpoint.
    const dir = tmp();
    const cfg = { ...tinyConfig("source-only", 2), evaluation: undefined };
    writeFileSync(join(dir, "exp.json"), JSON.stringify(cfg));
    execFileSync(process.execPath, [cli, "train", "--config", join(dir, "exp.json"), "--out", join(dir, "run"), "--data", sharedData], { stdio: "pipe" });
    const file = readdirSync(join(dir, "run"))
      .filter((f) => f.endsWith(".safetensors"))
      .sort()
      .at(-1);
    assert.ok(file, "the run wrote a checkpoint");
    checkpoint = join(dir, "run", file);
  });

  it("answers null, bad JSON, negative sizes, an unknown method and a cancelled request with errors, and the good requests behind them with results", async () => {
    const val = join(sharedData, "camvid/CamVid/val");
    const [img1, img2] = readdirSync(val)
      .filter((f) => f.endsWith(".png"))
      .sort()
      .slice(0, 2)
      .map((f) => join(val, f));
    const lines = [
      "null",
      "{not json",
      "[1,2,3]",
      "",
      '{"id":"flat","image":"a.png"}',
      request(1, "predict", { image: img1!, maxWidth: -5 }),
      request(2, "predict", { image: img1!, alpha: 2 }),
      JSON.stringify({ id: 3, method: "segment", params: { image: img1 } }),
      request(4, "predict", { image: join(val, "no-such-image.png") }),
      request(5, "predict", { image: img1!, maxWidth: 64 }),
      request(6, "predict", { image: img2! }),
      cancel(6),
      request(7, "predict", { image: img2!, maxWidth: 32 }),
    ].map((l) => l.replace(/\n$/, ""));
    const p = spawn(process.execPath, [cli, "predict-server", "--checkpoint", checkpoint], { stdio: ["pipe", "pipe", "pipe"] });
    let out = "";
    let err = "";
    p.stdout.on("data", (d) => (out += d));
    p.stderr.on("data", (d) => (err += d));
    p.stdin.end(lines.join("\n") + "\n");
    const code = await new Promise<number | null>((resolve) => p.on("exit", resolve));
    assert.equal(code, 0, err);
    assert.doesNotMatch(err, /^\s+at /m, "no stack trace");
    const answers = out
      .trim()
      .split("\n")
      .map((l) => parseResponse<PredictResult>(l)) as ResponseMessage<PredictResult>[];
    assert.ok(answers.every(Boolean), out.slice(0, 2000));
    // One answer per non-blank line but the cancel notification (answered through request 6), in order.
    assert.deepEqual(
      answers.map((a) => a.id),
      [null, null, null, "flat", 1, 2, 3, 4, 5, 6, 7],
    );
    const byId = (id: number) => answers.find((a) => a.id === id)!;
    const errorOf = (a: ResponseMessage<PredictResult>) => (assert.ok(a.error, JSON.stringify(a).slice(0, 200)), a.error!);
    assert.deepEqual(
      answers.slice(0, 3).map((a) => [a.id, errorOf(a).code]),
      [
        [null, ErrorCodes.InvalidRequest],
        [null, ErrorCodes.ParseError],
        [null, ErrorCodes.InvalidRequest],
      ],
    );
    assert.equal(answers[3]!.id, "flat");
    assert.match(errorOf(answers[3]!).message, /"method"/);
    assert.equal(errorOf(byId(1)).code, ErrorCodes.InvalidParams);
    assert.match(errorOf(byId(1)).message, /params\.maxWidth must be an integer >= 1, got -5/);
    assert.match(errorOf(byId(2)).message, /params\.alpha must be a number from 0 to 1/);
    assert.equal(errorOf(byId(3)).code, ErrorCodes.MethodNotFound);
    assert.equal(errorOf(byId(4)).code, ErrorCodes.RequestFailed);
    assert.match(errorOf(byId(4)).message, /image not found: .*no-such-image\.png/);
    assert.equal(errorOf(byId(6)).code, ErrorCodes.RequestCancelled);
    for (const [id, w] of [
      [5, 64],
      [7, 32],
    ] as const) {
      const r = byId(id);
      assert.equal(r.error, undefined, JSON.stringify(r.error));
      assert.equal(r.result!.width, w);
      assert.equal(r.result!.checkpoint, checkpoint);
      assert.ok(r.result!.overlayPng.length > 100 && r.result!.colorPng.length > 100);
      assert.ok(r.result!.legend.length > 0);
    }
  });
});
