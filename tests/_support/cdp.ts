/**
 * Test support: headless Chromium driven through the DevTools protocol over a WebSocket (no npm
 * dependency). `launchBrowser()` starts Debian's chromium with a throwaway profile and the network
 * closed except for loopback; `browser.open(url)` gives a page to evaluate JavaScript in and to
 * send mouse and key events to. Always `await browser.close()` (in `finally`).
 *
 * @module
 */
import { chromiumBinary } from "./chromium.ts";

type Pending = { resolve: (v: unknown) => void; reject: (e: Error) => void; method: string };

/** One browser tab attached through a flat CDP session. */
export class CdpPage {
  constructor(readonly browser: CdpBrowser, readonly sessionId: string) {}

  /** Sends a CDP command to this page. */
  send(method: string, params: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
    return this.browser.send(method, params, this.sessionId);
  }

  /** Evaluates an expression (promises awaited) and returns its JSON value; page errors throw. */
  async eval<T = unknown>(expression: string): Promise<T> {
    const r = await this.send("Runtime.evaluate", {
      expression,
      awaitPromise: true,
      returnByValue: true,
    });
    const ex = r.exceptionDetails as { text?: string; exception?: { description?: string } };
    if (ex) throw new Error(`page: ${ex.exception?.description ?? ex.text}`);
    return (r.result as { value: T }).value;
  }

  /** Polls `expression` until it is truthy (default 10 s), else throws with `what`. */
  async waitFor(expression: string, what: string, timeoutMs = 10_000): Promise<void> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      if (await this.eval<boolean>(`!!(${expression})`)) return;
      if (Date.now() > end) {
        const state = await this.eval<string>(
          `JSON.stringify({...document.body?.dataset, note: document.getElementById("note")?.textContent})`,
        ).catch(() => "?");
        throw new Error(`timed out waiting for ${what} (page state ${state})`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Navigates and waits for the load event. */
  async goto(url: string): Promise<void> {
    const loaded = this.browser.once("Page.loadEventFired", this.sessionId);
    await this.send("Page.navigate", { url });
    await loaded;
  }

  /** Presses one key (`key` as in KeyboardEvent.key; modifiers: 2 = Ctrl, 8 = Shift). */
  async key(key: string, modifiers = 0): Promise<void> {
    const named: Record<string, [string, number]> = {
      Enter: ["Enter", 13],
      ArrowLeft: ["ArrowLeft", 37],
      ArrowRight: ["ArrowRight", 39],
    };
    const [code, vk] = named[key] ?? [`Key${key.toUpperCase()}`, key.toUpperCase().charCodeAt(0)];
    const text = key in named || modifiers & 2 ? undefined : (key === "Enter" ? "\r" : key);
    const base = { key, code, windowsVirtualKeyCode: vk, modifiers };
    await this.send("Page.bringToFront");
    await this.send("Input.dispatchKeyEvent", { type: "keyDown", ...base, text });
    await this.send("Input.dispatchKeyEvent", { type: "keyUp", ...base });
  }

  /** A mouse drag through `points` (CSS pixels of the viewport), left button held. */
  async drag(points: readonly [number, number][]): Promise<void> {
    const [x0, y0] = points[0];
    // Input to a background tab waits for its (throttled) next frame: bring it to the front.
    await this.send("Page.bringToFront");
    await this.send("Input.dispatchMouseEvent", { type: "mouseMoved", x: x0, y: y0 });
    await this.send("Input.dispatchMouseEvent", {
      type: "mousePressed",
      x: x0,
      y: y0,
      button: "left",
      buttons: 1,
      clickCount: 1,
    });
    for (const [x, y] of points.slice(1)) {
      await this.send("Input.dispatchMouseEvent", {
        type: "mouseMoved",
        x,
        y,
        button: "left",
        buttons: 1,
      });
    }
    const [x1, y1] = points[points.length - 1];
    await this.send("Input.dispatchMouseEvent", {
      type: "mouseReleased",
      x: x1,
      y: y1,
      button: "left",
      buttons: 0,
      clickCount: 1,
    });
  }
}

/** A running headless Chromium. */
export class CdpBrowser {
  #ws: WebSocket;
  #next = 1;
  #pending = new Map<number, Pending>();
  #listeners: { method: string; sessionId?: string; resolve: (p: unknown) => void }[] = [];
  #closed = false;

  constructor(ws: WebSocket, readonly process: Deno.ChildProcess, readonly profile: string) {
    this.#ws = ws;
    ws.onmessage = (ev) => {
      const msg = JSON.parse(ev.data as string);
      if (msg.id !== undefined) {
        const p = this.#pending.get(msg.id);
        if (!p) return;
        this.#pending.delete(msg.id);
        if (msg.error) p.reject(new Error(`${p.method}: ${msg.error.message}`));
        else p.resolve(msg.result);
        return;
      }
      this.#listeners = this.#listeners.filter((l) => {
        if (l.method !== msg.method || (l.sessionId && l.sessionId !== msg.sessionId)) return true;
        l.resolve(msg.params);
        return false;
      });
    };
    ws.onclose = () => {
      for (const p of this.#pending.values()) p.reject(new Error(`${p.method}: browser closed`));
      this.#pending.clear();
    };
  }

  /** Sends a CDP command (to the browser, or to a page's session). */
  send(
    method: string,
    params: Record<string, unknown> = {},
    sessionId?: string,
  ): Promise<Record<string, unknown>> {
    const id = this.#next++;
    const { promise, resolve, reject } = Promise.withResolvers<unknown>();
    this.#pending.set(id, { resolve, reject, method });
    this.#ws.send(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }));
    return promise as Promise<Record<string, unknown>>;
  }

  /** Resolves with the params of the next event `method` (of `sessionId`, when given). */
  once(method: string, sessionId?: string): Promise<unknown> {
    const { promise, resolve } = Promise.withResolvers<unknown>();
    this.#listeners.push({ method, sessionId, resolve });
    return promise;
  }

  /** Opens a new tab at `url` (waits for its load event). */
  async open(url: string, width = 900, height = 700): Promise<CdpPage> {
    const { targetId } = await this.send("Target.createTarget", { url: "about:blank" });
    const { sessionId } = await this.send("Target.attachToTarget", { targetId, flatten: true });
    const page = new CdpPage(this, sessionId as string);
    await page.send("Page.enable");
    await page.send("Runtime.enable");
    await page.send("Emulation.setFocusEmulationEnabled", { enabled: true });
    await page.send("Emulation.setDeviceMetricsOverride", {
      width,
      height,
      deviceScaleFactor: 1,
      mobile: false,
    });
    await page.goto(url);
    return page;
  }

  /** Closes the browser, ends its process and removes the profile. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.race([
      this.send("Browser.close").catch(() => {}),
      new Promise((r) => setTimeout(r, 2000)),
    ]);
    try {
      this.#ws.close();
    } catch { /* already closed */ }
    try {
      this.process.kill("SIGKILL");
    } catch { /* already exited */ }
    await this.process.status;
    await removeProfile(this.profile);
  }
}

/**
 * Removes a profile folder. Chromium's helper processes can outlive the browser process by a moment
 * and write into the profile (e.g. `Default/Network Persistent State`) while it is being removed,
 * so it is removed again until it stays gone (up to 3 s); a profile still there then is an error.
 */
async function removeProfile(profile: string): Promise<void> {
  const end = Date.now() + 3000;
  for (;;) {
    await Deno.remove(profile, { recursive: true }).catch(() => {});
    await new Promise((r) => setTimeout(r, 100));
    if (!(await Deno.stat(profile).then(() => true, () => false))) return;
    if (Date.now() > end) throw new Error(`cannot remove the Chromium profile ${profile}`);
  }
}

/** Starts headless Chromium with remote debugging on a free port and connects to it. */
export async function launchBrowser(): Promise<CdpBrowser> {
  const profile = await Deno.makeTempDir({ prefix: "cyborg-cdp-" });
  const proc = new Deno.Command(chromiumBinary(), {
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--disable-extensions",
      // Every tab runs at full speed (two annotators' pages are open at once).
      "--disable-background-timer-throttling",
      "--disable-renderer-backgrounding",
      "--disable-backgrounding-occluded-windows",
      "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
      "--remote-debugging-port=0",
      `--user-data-dir=${profile}`,
      "about:blank",
    ],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const reader = proc.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let log = "";
  let wsUrl: string | undefined;
  const deadline = setTimeout(() => reader.cancel().catch(() => {}), 20_000);
  try {
    while (!wsUrl) {
      const { done, value } = await reader.read();
      if (done) break;
      log += value;
      wsUrl = log.match(/DevTools listening on (ws:\/\/\S+)/)?.[1];
    }
  } finally {
    clearTimeout(deadline);
  }
  // Keep draining stderr so Chromium never blocks on a full pipe.
  (async () => {
    try {
      while (!(await reader.read()).done) { /* discard */ }
    } catch { /* cancelled */ }
  })();
  if (!wsUrl) {
    try {
      proc.kill("SIGKILL");
    } catch { /* exited */ }
    await proc.status;
    await removeProfile(profile).catch(() => {}); // the start failure is the error to report
    throw new Error(`chromium did not start:\n${log.slice(-2000)}`);
  }
  const ws = new WebSocket(wsUrl);
  await new Promise<void>((resolve, reject) => {
    ws.onopen = () => resolve();
    ws.onerror = () => reject(new Error(`cannot connect to ${wsUrl}`));
  });
  return new CdpBrowser(ws, proc, profile);
}
