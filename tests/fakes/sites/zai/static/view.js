// The page's DOM (reference §5.2 "DOM contract"), for the default layout and for the changed one
// of the layout_change scenario (contenteditable input, renamed labels).

const LAYOUTS = {
  default: {sendLabel: "Send Message", pickerLabel: "Select a model", placeholder: "Send a Message"},
  next: {sendLabel: "Send message", pickerLabel: "Choose a model", placeholder: "Ask anything"},
};

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === false || value === null || value === undefined) continue;
    if (key === "text") el.textContent = value;
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  el.append(...children);
  return el;
}

export function toast(message) {
  const el = h("div", {class: "toast toast-error", role: "alert", text: message});
  document.getElementById("toasts").append(el);
  setTimeout(() => el.remove(), 10000);
}

// One assistant turn: reasoning in details[type=reasoning], answer in the .prose container.
class AssistantView {
  constructor(id, index) {
    const containerId = index ? `response-content-container-${index}` : "response-content-container";
    this.answerEl = h("div", {id: containerId, class: "prose"});
    this.el = h("div", {class: "message", "data-message-role": "assistant", "data-message-id": id},
      this.answerEl);
    this.details = null;
    this.skip = null;
  }

  thinking(text) {
    if (!this.details) {
      this.reasoningEl = h("div", {class: "reasoning-content"});
      this.summary = h("summary", {text: "Thinking…"});
      this.details = h("details", {type: "reasoning", open: true}, this.summary, this.reasoningEl);
      this.skip = h("button", {type: "button", class: "skip-button", text: "Skip"});
      this.skip.addEventListener("click", () => { this.details.open = false; });
      this.el.insertBefore(this.details, this.answerEl);
      this.el.insertBefore(this.skip, this.answerEl);
    }
    this.reasoningEl.textContent = text;
  }

  answer(text) {
    if (text) this.endThinking();
    this.answerEl.textContent = text;
  }

  endThinking() {
    if (this.skip) {
      this.skip.remove();
      this.skip = null;
      this.summary.textContent = "Thought";
    }
  }

  fail(message) {
    this.endThinking();
    this.el.append(h("div", {class: "message-error", role: "alert", text: message}));
  }

  finish() {
    this.endThinking();
    this.el.append(h("div", {class: "message-actions"},
      h("button", {type: "button", "aria-label": "Copy", text: "Copy"}),
      h("button", {type: "button", "aria-label": "Regenerate", text: "Regenerate"})));
  }
}

export class ChatView {
  constructor(root, {layout, models, model, handlers}) {
    this.layout = LAYOUTS[layout] || LAYOUTS.default;
    this.contentEditable = layout === "next";
    this.models = models;
    this.handlers = handlers;
    this.assistants = 0;
    this.options = {thinking: true, effort: "max", webSearch: false};
    root.replaceChildren(this.build());
    this.selectModel(model);
  }

  build() {
    this.pickerButton = h("button", {type: "button", "aria-label": this.layout.pickerLabel, id: "model-selector-button"});
    this.menu = h("div", {role: "menu", hidden: true},
      ...this.models.map((m) => h("button", {type: "button", "data-model-id": m.id, text: m.name})));
    this.pickerButton.addEventListener("click", () => { this.menu.hidden = !this.menu.hidden; });
    this.menu.addEventListener("click", (event) => {
      const id = event.target.closest("button")?.dataset.modelId;
      if (id) { this.selectModel(this.models.find((m) => m.id === id)); this.menu.hidden = true; }
    });
    const newChat = h("button", {type: "button", id: "new-chat-button", "aria-label": "New Chat", text: "New Chat"});
    newChat.addEventListener("click", () => this.handlers.newChat());
    const header = h("div", {class: "chat-header"}, newChat,
      h("div", {class: "model-selector"}, this.pickerButton, this.menu));
    this.messages = h("main", {id: "messages"});
    return h("div", {class: "chat"}, header, this.messages, this.buildForm());
  }

  buildForm() {
    this.input = this.contentEditable
      ? h("div", {id: "chat-input", contenteditable: "true", role: "textbox", "aria-multiline": "true",
        "data-placeholder": this.layout.placeholder})
      : h("textarea", {id: "chat-input", placeholder: this.layout.placeholder, rows: 2});
    this.sendButton = h("button", {id: "send-message-button", type: "submit", disabled: true, text: "Send"});
    this.sendWrap = h("div", {"aria-label": this.layout.sendLabel}, this.sendButton);
    this.stopButton = h("button", {id: "stop-response-button", type: "button", "aria-label": "Stop", hidden: true, text: "Stop"});
    this.stopButton.addEventListener("click", () => this.handlers.stop());
    this.thinkSlot = h("div", {class: "think-slot"});
    this.searchSlot = h("div", {class: "search-slot"});
    const upload = h("button", {type: "button", id: "upload-file-button", "aria-label": "Upload files", text: "+"});
    const form = h("form", {class: "chat-form", id: "chat-form"}, this.input,
      h("div", {class: "controls"}, upload, this.thinkSlot, this.searchSlot, this.sendWrap, this.stopButton));
    this.input.addEventListener("input", () => this.refreshSend());
    this.input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        this.submit();
      }
    });
    form.addEventListener("submit", (event) => { event.preventDefault(); this.submit(); });
    this.renderSearch();
    return form;
  }

  text() {
    return this.contentEditable ? this.input.innerText.trim() : this.input.value.trim();
  }

  clearInput() {
    if (this.contentEditable) this.input.textContent = ""; else this.input.value = "";
    this.refreshSend();
  }

  refreshSend() {
    this.sendButton.disabled = this.text() === "";
  }

  submit() {
    const prompt = this.text();
    if (prompt && !this.busy) {
      this.clearInput();
      this.handlers.submit(prompt);
    }
  }

  setBusy(busy) {
    this.busy = busy;
    this.sendWrap.hidden = busy;
    this.stopButton.hidden = !busy;
  }

  selectModel(model) {
    this.model = model;
    this.pickerButton.textContent = model.name;
    this.renderThink();
  }

  effortModel() {
    return Boolean(this.model.info?.meta?.capabilities?.reasoning_effort);
  }

  renderThink() {
    const o = this.options;
    if (!this.effortModel()) {
      const button = h("button", {type: "button", "data-autothink": String(o.thinking), text: "Deep Think"});
      button.addEventListener("click", () => { o.thinking = !o.thinking; this.renderThink(); });
      this.thinkSlot.replaceChildren(h("div", {"aria-label": `Deep think ${o.thinking ? "on" : "off"}`}, button));
      return;
    }
    const trigger = h("button", {type: "button", "data-dropdown-menu-trigger": true, text: "Deep Think"});
    const toggle = h("button", {type: "button", role: "switch", "aria-checked": String(o.thinking), text: "Deep Think"});
    const levels = ["high", "max"].map((level) => {
      const b = h("button", {type: "button", "data-selected": String(o.effort === level), text: level === "high" ? "High" : "Max"});
      b.addEventListener("click", () => { o.effort = level; this.renderThink(); });
      return b;
    });
    const menu = h("div", {role: "menu", hidden: true}, toggle, ...levels);
    trigger.addEventListener("click", () => { menu.hidden = !menu.hidden; });
    toggle.addEventListener("click", () => { o.thinking = !o.thinking; this.renderThink(); });
    this.thinkSlot.replaceChildren(h("div", {class: "dropdown"}, trigger, menu));
  }

  renderSearch() {
    const o = this.options;
    const button = h("button", {type: "button", "data-selected": String(o.webSearch), text: "Search"});
    button.addEventListener("click", () => { o.webSearch = !o.webSearch; this.renderSearch(); });
    this.searchSlot.replaceChildren(h("div", {"aria-label": `Web search ${o.webSearch ? "on" : "off"}`}, button));
  }

  addUser(id, text) {
    this.messages.append(h("div", {class: "message", "data-message-role": "user", "data-message-id": id},
      h("div", {class: "user-content", text})));
  }

  addAssistant(id) {
    const view = new AssistantView(id, this.assistants++);
    this.messages.append(view.el);
    return view;
  }

  clear() {
    this.messages.replaceChildren();
    this.assistants = 0;
  }
}
