// The echo chat page: renders a prompt box after window.ECHO.slow_page_ms, sends the prompt
// through window.fetch to /api/chat (SSE) and renders the answer as it streams.
(() => {
  const cfg = window.ECHO;
  const app = document.getElementById("app");
  const params = new URLSearchParams(location.search);
  const model = params.get("model") || "echo-1";
  let chat = location.pathname.startsWith("/c/") ? decodeURIComponent(location.pathname.slice(3)) : null;
  let controller = null;

  const el = (tag, attrs, text) => {
    const node = document.createElement(tag);
    Object.assign(node, attrs || {});
    if (text) node.textContent = text;
    return node;
  };

  function render() {
    app.textContent = "";
    if (cfg.login_wall) {
      app.append(el("div", { id: "login-wall" }, "Log in to continue chatting."));
      return;
    }
    const log = el("div", { id: "log" });
    const input = cfg.layout === "changed"
      ? el("div", { id: "composer-v2", contentEditable: "true" })
      : el("textarea", { id: "prompt", placeholder: "Say something", rows: 3, cols: 60 });
    const send = el("button", { id: "send", type: "button" }, "Send");
    const stop = el("button", { id: "stop", type: "button", hidden: true }, "Stop");
    const error = el("div", { id: "error", hidden: true });
    app.append(log, input, send, stop, error);
    const text = () => (input.value !== undefined ? input.value : input.innerText);
    const clear = () => { if (input.value !== undefined) input.value = ""; else input.innerText = ""; };
    input.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && !e.shiftKey && cfg.enter_sends) { e.preventDefault(); submit(); }
    });
    send.addEventListener("click", () => submit());
    stop.addEventListener("click", () => {
      if (controller) controller.abort();
      fetch("/api/stop", { method: "POST", body: JSON.stringify({ chat }) });
    });
    if (cfg.popup) {
      const modal = el("div", { id: "popup", className: "modal" });
      const box = el("div");
      const keep = el("button", { type: "button" }, "Keep session");
      keep.addEventListener("click", () => modal.remove());
      box.append(el("p", {}, "Your session ended."), keep);
      modal.append(box);
      document.body.append(modal);
    }

    async function submit() {
      const prompt = text().trim();
      if (!prompt || controller) return;
      clear();
      if (cfg.challenge) {
        app.append(el("div", { id: "challenge" }, "Please verify you are human."));
        return;
      }
      log.append(el("div", { className: "user" }, prompt));
      const answer = el("div", { className: "assistant" });
      log.append(answer);
      controller = new AbortController();
      stop.hidden = false;
      error.hidden = true;
      try {
        if (!chat) {
          const made = await fetch("/api/chats/new", { method: "POST" });
          chat = (await made.json()).id;
          history.pushState(null, "", "/c/" + encodeURIComponent(chat) + location.search);
        }
        const response = await fetch("/api/chat?chat=" + encodeURIComponent(chat), {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ chat, prompt, model }),
          signal: controller.signal,
        });
        const type = response.headers.get("content-type") || "";
        if (!response.ok || !type.includes("event-stream")) throw new Error(await response.text());
        const reader = response.body.getReader();
        const decoder = new TextDecoder();
        let buffer = "";
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          buffer += decoder.decode(value, { stream: true });
          const frames = buffer.split("\n\n");
          buffer = frames.pop();
          for (const frame of frames) {
            const data = JSON.parse(frame.replace(/^data: /, ""));
            if (data.type === "text") answer.textContent += data.text;
          }
        }
      } catch (e) {
        error.textContent = String(e && e.message || e);
        error.hidden = false;
      } finally {
        controller = null;
        stop.hidden = true;
      }
    }
  }

  setTimeout(render, cfg.slow_page_ms);
})();
