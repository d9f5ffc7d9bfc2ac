// Studio in a real browser (Debian's Chromium through playwright-core)
// against `arkor dev` on the real local backend with the tiny model.
// Nothing is mocked: trainings run, checkpoints are written, answers are
// generated. Screenshots land in __test__/artifacts/.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";

import { launch } from "./helpers/browser.mjs";
import { addEntry, openStream, request, startStudio } from "./helpers/studio.mjs";

describe("Studio in Chromium", () => {
  let s;
  let b;
  let jobId;
  const url = (hash) => `http://localhost:${s.port}/${hash}`;

  before(async () => {
    s = await startStudio({ steps: 20 });
    b = await launch();
  });
  after(async () => {
    if (b) await b.context.close();
    if (s) await s.stop();
  });

  test("each page opens, with the trainer from the manifest and an empty project", async () => {
    const { page } = b;
    await page.goto(url("#/"));
    await page.getByTestId("trainer-label").filter({ hasText: "Run training: triage-v1" }).waitFor();
    assert.match(await page.getByTestId("identity").textContent(), /^local · local \/ proj$/);
    await b.shot("overview");
    await page.goto(url("#/jobs"));
    await page.getByText("No jobs yet").waitFor();
    await b.shot("jobs-empty");
    await page.goto(url("#/playground"));
    await page.getByRole("heading", { name: "Playground" }).waitFor();
    await page.goto(url("#/endpoints"));
    await page.getByRole("heading", { name: "Endpoints", level: 1 }).waitFor();
    assert.deepEqual(b.problems, []);
  });

  test("Run training on Overview streams `arkor start` to the page until its exit code, across page changes", async () => {
    const { page } = b;
    await page.goto(url("#/"));
    const run = page.getByTestId("run-button");
    await run.filter({ hasText: "Run training: triage-v1" }).waitFor();
    await run.click();
    // Following the job's link mid-run leaves the run going.
    await page.getByTestId("run-job-link").click();
    await page.locator('.title-row [data-status="completed"]').waitFor({ timeout: 120_000 });
    await page.getByRole("link", { name: "Overview" }).click();
    await page.getByTestId("run-output").filter({ hasText: /exit=0/ }).waitFor({ timeout: 120_000 });
    const out = await page.getByTestId("run-output").textContent();
    assert.match(out, /step 20\/20/);
    assert.match(out, /finished with status=completed/);
    assert.equal(await page.getByTestId("run-exit").textContent(), "exit 0");
    jobId = out.match(/Started job (\S+)/)[1];
    await b.shot("overview-trained");
  });

  test("Jobs shows the run completed; search and the status filter narrow the rows", async () => {
    const { page } = b;
    await page.goto(url("#/jobs"));
    const row = page.locator(`tr[data-job-id="${jobId}"]`);
    await row.locator('[data-status="completed"]').waitFor();
    await page.getByTestId("job-search").fill(jobId.slice(-6));
    await row.waitFor();
    await page.getByTestId("job-search").fill("no-such-job");
    await page.getByText("No matches").waitFor();
    await page.getByTestId("job-search").fill("");
    await page.getByTestId("filter-failed").click();
    await page.getByText("No matches").waitFor();
    await page.getByTestId("filter-completed").click();
    await row.waitFor();
    await b.shot("jobs");
  });

  test("the job detail draws the loss chart (values on hover, drag to zoom) and lists the checkpoints", async () => {
    const { page } = b;
    await page.locator(`tr[data-job-id="${jobId}"] a`).click();
    await page.waitForURL(new RegExp(`#/jobs/${jobId}$`));
    await page.locator('.title-row [data-status="completed"]').waitFor();
    const chart = page.getByTestId("loss-chart");
    await page.waitForFunction(() => document.querySelector('[data-testid="loss-chart"]')?.dataset.points === "20");
    const canvas = chart.locator("canvas");
    assert.equal(await canvas.count(), 1);
    // Drawn: the plot area has pixels in the loss series' colour.
    const teal = await canvas.evaluate((c) => {
      const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
      let n = 0;
      for (let i = 0; i < d.length; i += 4) if (d[i] < 60 && d[i + 1] > 150 && d[i + 2] > 130) n++;
      return n;
    });
    assert.ok(teal > 200, `loss line pixels: ${teal}`);
    // Hover: the legend shows the step and loss under the cursor.
    const over = chart.locator(".u-over");
    const box = await over.boundingBox();
    await page.mouse.move(box.x + box.width * 0.5, box.y + box.height * 0.5);
    const legend = chart.locator(".u-legend .u-series").nth(1).locator(".u-value");
    await page.waitForFunction((el) => /^\d+\.\d{4}$/.test(el.textContent), await legend.elementHandle());
    const stepShown = Number(await chart.locator(".u-legend .u-series").nth(0).locator(".u-value").textContent());
    assert.ok(stepShown >= 8 && stepShown <= 13, `hovered step ${stepShown}`);
    // Zoom: drag across the middle third; double-click goes back.
    const host = chart.locator(".chart");
    const full = Number(await host.getAttribute("data-x-max")) - Number(await host.getAttribute("data-x-min"));
    await page.mouse.move(box.x + box.width * 0.33, box.y + box.height * 0.5);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width * 0.66, box.y + box.height * 0.5, { steps: 8 });
    await page.mouse.up();
    const zoomed = Number(await host.getAttribute("data-x-max")) - Number(await host.getAttribute("data-x-min"));
    assert.ok(zoomed < full * 0.6, `zoomed span ${zoomed} of ${full}`);
    await over.dblclick();
    const back = Number(await host.getAttribute("data-x-max")) - Number(await host.getAttribute("data-x-min"));
    assert.equal(back, full);
    await page.mouse.move(box.x + box.width * 0.8, box.y + box.height * 0.4);
    const log = await page.getByTestId("event-log").textContent();
    assert.match(log, /training\.logstep=20 loss=\d+\.\d{4}/);
    assert.match(log, /training\.completed1 artifact/);
    const checkpoints = await page.getByTestId("checkpoints").locator("li").allTextContents();
    assert.deepEqual(checkpoints, [2, 4, 6, 8, 10, 12, 14, 16, 18, 20].map((n) => `step ${n} · chat`).concat(["final · chat"]));
    await b.shot("job-detail");
  });

  test("a run with evalSteps draws the eval-loss line beside the training loss", async () => {
    const { page } = b;
    const file = addEntry(s.dir, "evals", 20, (src) => src.replace(/maxSteps: (\d+),/, "maxSteps: $1,\n  evalSteps: 5,"));
    const run = await openStream(s.port, "POST", "/api/train", { headers: { "x-arkor-studio-token": s.token }, body: { file } });
    const [, id] = await run.waitFor(/Started job (\S+)/, 90_000);
    assert.match(await run.ended, /\n---\nexit=0\n$/);
    const { events } = (await request(s.port, "GET", `/api/jobs/${id}`, { headers: { "x-arkor-studio-token": s.token } })).json();
    assert.ok(events.some((e) => e.type === "training.log" && typeof e.evalLoss === "number"), "the local backend reports evalLoss with evalSteps");
    await page.goto(url(`#/jobs/${id}`));
    await page.locator('.title-row [data-status="completed"]').waitFor();
    const chart = page.getByTestId("loss-chart");
    await page.waitForFunction(() => Number(document.querySelector('[data-testid="loss-chart"]')?.dataset.points) >= 20);
    // The chart shows the eval series in an effect after the render that counted the
    // points, so wait for it; a series never shown fails here by the timeout.
    await page.waitForFunction(() => {
      const row = document.querySelectorAll('[data-testid="loss-chart"] .u-legend .u-series')[2];
      return row && !row.classList.contains("u-off");
    }, null, { timeout: 10_000 });
    const pink = await chart.locator("canvas").evaluate((c) => {
      const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
      let n = 0;
      for (let i = 0; i < d.length; i += 4) if (d[i] > 200 && d[i + 1] < 110 && d[i + 2] > 120) n++;
      return n;
    });
    assert.ok(pink > 50, `eval line pixels: ${pink}`);
    assert.match(await page.getByTestId("event-log").textContent(), /evalLoss=\d+\.\d{4}/);
    await b.shot("job-detail-eval");
  });

  test("Playground chats with an intermediate checkpoint, streaming, and with base and adapter side by side", async () => {
    const { page } = b;
    await page.goto(url("#/playground"));
    await page.getByTestId("job-select").selectOption(jobId);
    await page.getByTestId("adapter-select").locator('option[value="10"]').waitFor({ state: "attached" });
    await page.getByTestId("adapter-select").selectOption("10");
    await page.getByTestId("max-tokens").fill("16");
    await page.getByTestId("temperature").fill("0");
    await page.getByTestId("prompt").fill("I can't log in to my account.");
    const answered = page.waitForResponse((r) => r.url().endsWith("/api/inference/chat"));
    await page.getByTestId("send").click();
    const res = await answered;
    const sent = JSON.parse(res.request().postData());
    assert.deepEqual(sent.adapter, { kind: "checkpoint", jobId, step: 10 });
    assert.equal(sent.maxTokens, 16);
    assert.equal(sent.temperature, 0);
    assert.equal(sent.stream, true);
    assert.equal(res.status(), 200);
    const body = await res.text();
    assert.ok(body.includes(`"model":"${jobId}:checkpoint-10"`), body.slice(0, 300));
    const deltas = [...body.matchAll(/"content":"((?:[^"\\]|\\.)*)"/g)].map((m) => JSON.parse(`"${m[1]}"`)).join("");
    const pane = page.getByTestId("pane-adapter");
    await page.getByTestId("send").waitFor(); // the stream ended
    const shown = await pane.locator(".msg.assistant .content").textContent();
    assert.equal(shown, deltas, "the page shows exactly what the backend streamed");
    assert.ok(deltas.length > 0);

    await page.getByTestId("mode-compare").check();
    await page.getByTestId("prompt").fill("Reset my password please.");
    const both = [];
    page.on("response", (r) => r.url().endsWith("/api/inference/chat") && both.push(r));
    await page.getByTestId("send").click();
    await page.getByTestId("pane-base").locator(".msg.assistant").waitFor();
    await page.getByTestId("send").waitFor();
    const bodies = both.map((r) => JSON.parse(r.request().postData()));
    assert.ok(bodies.some((x) => x.baseModel === "arkor/tiny-gemma3" && !x.adapter), JSON.stringify(bodies));
    assert.ok(bodies.some((x) => x.adapter && x.adapter.step === 10), JSON.stringify(bodies));
    await b.shot("playground");

    // Structured output: the schema goes out as responseFormat json_schema,
    // and the page shows what the backend made of it (an answer, or its refusal).
    await page.getByTestId("mode-adapter").check();
    await page.getByTestId("use-schema").check();
    const schema = { type: "object", properties: { team: { type: "string" } }, required: ["team"] };
    await page.getByTestId("schema").fill(JSON.stringify(schema));
    await page.getByTestId("prompt").fill("Route this ticket.");
    const structured = page.waitForResponse((r) => r.url().endsWith("/api/inference/chat"));
    await page.getByTestId("send").click();
    const sr = await structured;
    assert.deepEqual(JSON.parse(sr.request().postData()).responseFormat, { type: "json_schema", json_schema: { name: "response", schema, strict: true } });
    await page.getByTestId("send").waitFor();
    if (sr.status() === 200) {
      await pane.locator(".msg.assistant").last().waitFor();
    } else {
      const { error } = await sr.json();
      assert.equal(await pane.locator(".error-note").textContent(), error);
      b.problems.splice(b.problems.findIndex((p) => p.includes("/api/inference/chat")), 1);
    }
    // A schema that is not JSON never leaves the page.
    await page.getByTestId("schema").fill("{ nope");
    await page.getByTestId("prompt").fill("again");
    await page.getByTestId("send").click();
    await page.getByText(/^JSON schema is not valid JSON/).waitFor();
    await page.getByTestId("use-schema").uncheck();
    assert.deepEqual(b.problems, []);
  });

  test("Endpoints: create one for checkpoint 10, issue a key, call it, switch auth and state, revoke the key", async () => {
    const { page } = b;
    await page.goto(url("#/endpoints"));
    await page.getByText("No endpoints yet").waitFor();
    await page.getByTestId("new-endpoint").click();
    await page.getByTestId("endpoint-slug").fill("studio-bot");
    await page.getByTestId("endpoint-target-kind").selectOption("checkpoint");
    await page.getByTestId("endpoint-job").fill(jobId);
    await page.getByTestId("endpoint-step").fill("10");
    await page.getByTestId("endpoint-create").click();
    const row = page.getByTestId("endpoints-table").locator("tr", { hasText: "studio-bot" });
    await row.waitFor();
    assert.match(await row.textContent(), new RegExp(`Checkpoint step 10 \\(job ${jobId.slice(0, 8)}\\)fixed_api_keyenabled`));
    await b.shot("endpoints");
    await row.getByRole("link", { name: "studio-bot" }).click();

    const { baseUrl } = await (await fetch(`http://127.0.0.1:${s.port}/api/credentials`, { headers: { "x-arkor-studio-token": s.token } })).json();
    const endpoint = `${baseUrl}/deployments/studio-bot/v1`;
    await page.getByTestId("endpoint-url").filter({ hasText: `${endpoint}/chat/completions` }).waitFor();
    const curl = await page.getByTestId("snippet").textContent();
    assert.ok(curl.startsWith(`curl ${endpoint}/chat/completions`), curl);
    assert.match(curl, /Authorization: Bearer YOUR_API_KEY/);
    await page.getByTestId("snippet-lang").selectOption("python");
    assert.match(await page.getByTestId("snippet").textContent(), new RegExp(`OpenAI\\(base_url="${endpoint}", api_key="YOUR_API_KEY"\\)`));
    await page.getByTestId("snippet-lang").selectOption("javascript");
    assert.match(await page.getByTestId("snippet").textContent(), new RegExp(`new OpenAI\\(\\{ baseURL: "${endpoint}"`));

    await page.getByTestId("key-label").fill("ci");
    await page.getByTestId("issue-key").click();
    const plaintext = (await page.getByTestId("new-key").locator("code").textContent()).trim();
    assert.ok(plaintext.length > 16, plaintext);
    const keyRow = page.getByTestId("keys").locator("li", { hasText: "ci" });
    await keyRow.waitFor();
    assert.ok((await keyRow.textContent()).includes(plaintext.slice(0, 8)), "the list shows the key's prefix");

    // The endpoint answers, with the key and only with it.
    const ask = (headers = {}) =>
      fetch(`${endpoint}/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json", ...headers },
        body: JSON.stringify({ model: "ignored", messages: [{ role: "user", content: "hi" }], max_tokens: 3 }),
      });
    const ok = await ask({ authorization: `Bearer ${plaintext}` });
    assert.equal(ok.status, 200, await ok.clone().text());
    assert.equal((await ok.json()).object, "chat.completion");
    assert.equal((await ask()).status, 401);

    await page.getByTestId("endpoint-auth-mode").selectOption("none");
    await page.getByTestId("snippet-lang").selectOption("curl");
    await page.waitForFunction(() => !document.querySelector('[data-testid="snippet"]').textContent.includes("Authorization"));
    assert.equal((await ask()).status, 200, "no auth: open");
    // The badge shows what the server saved; the checkbox flips at the click.
    await page.getByTestId("endpoint-enabled").click();
    await page.getByTestId("endpoint-state").filter({ hasText: "disabled" }).waitFor();
    assert.equal((await ask()).status, 404, "disabled");
    await page.getByTestId("endpoint-enabled").click();
    await page.getByTestId("endpoint-state").filter({ hasText: "serving" }).waitFor();
    await page.getByTestId("endpoint-auth-mode").selectOption("fixed_api_key");
    await page.waitForFunction(() => document.querySelector('[data-testid="snippet"]').textContent.includes("Authorization"));
    await keyRow.getByRole("button", { name: "Revoke" }).click();
    await page.getByTestId("keys").locator("li.revoked", { hasText: "ci" }).waitFor();
    await page.waitForFunction(() => document.querySelector('[data-testid="endpoint-auth-mode"]').value === "fixed_api_key");
    assert.equal((await ask({ authorization: `Bearer ${plaintext}` })).status, 401, "revoked");
    await b.shot("endpoint-detail");
    assert.deepEqual(b.problems, []);
  });

  test("Jobs picks up a new run by itself; its page keeps up with it live, and Cancel stops it", async () => {
    const { page } = b;
    await page.goto(url("#/jobs"));
    await page.locator("tr[data-job-id]").first().waitFor();
    const file = addEntry(s.dir, "long", 100000);
    const run = await openStream(s.port, "POST", "/api/train", { headers: { "x-arkor-studio-token": s.token }, body: { file } });
    const [, id] = await run.waitFor(/Started job (\S+)/, 90_000);
    // No reload: the 5 s poll brings the row in.
    await page.locator(`tr[data-job-id="${id}"] [data-status="running"]`).waitFor({ timeout: 15_000 });
    await page.locator(`tr[data-job-id="${id}"] a`).click();
    await page.locator('.title-row [data-status="running"]').waitFor({ timeout: 60_000 });
    const points = () => page.getByTestId("loss-chart").getAttribute("data-points").then(Number);
    await page.waitForFunction(() => Number(document.querySelector('[data-testid="loss-chart"]')?.dataset.points) >= 3);
    const first = await points();
    await page.waitForFunction((n) => Number(document.querySelector('[data-testid="loss-chart"]')?.dataset.points) > n + 3, first);
    await page.getByTestId("cancel-job").click();
    await page.locator('.title-row [data-status="cancelled"]').waitFor();
    assert.match(await run.ended, /\n---\nexit=\d+\n$/);
    await b.shot("job-cancelled");
  });
});
