// The mock chat.z.ai SPA (reference §5.2): bootstraps a guest, renders the chat, and runs each
// turn the way the real site does, every request through window.fetch.
import {bootstrap, branch, loadChat} from "./session.js";
import {createChat, readStream, sendCompletion, solveCaptcha} from "./completion.js";
import {ChatView, toast} from "./view.js";

const chat = {id: null, parentId: null, controller: null};
let session = null;
let view = null;

function preselected(models, config) {
  const wanted = (new URLSearchParams(location.search).get("model") || "").toLowerCase();
  return models.find((m) => wanted && (m.id.toLowerCase() === wanted || m.name.toLowerCase() === wanted))
    || models.find((m) => m.id === config.default_models) || models[0];
}

async function errorText(response) {
  try {
    const data = await response.json();  // the WAF's HTML throws SyntaxError here, as reported
    return data.detail || `HTTP ${response.status}`;
  } catch (error) {
    console.error(error);
    return `${error.name}: ${error.message}`;
  }
}

async function runTurn(prompt) {
  const turn = {prompt, model: view.model, options: {...view.options}, userId: crypto.randomUUID(),
    assistantId: crypto.randomUUID(), parentId: chat.parentId, chatId: chat.id};
  view.setBusy(true);
  view.addUser(turn.userId, prompt);
  const answer = view.addAssistant(turn.assistantId);
  chat.controller = new AbortController();
  try {
    if (!chat.id) {
      const record = await createChat(session, turn);
      chat.id = turn.chatId = record.id;
      history.pushState({}, "", `/c/${record.id}`);
    }
    const captcha = session.config.features?.enable_captcha ? await solveCaptcha() : null;
    const response = await sendCompletion(session, turn, captcha, chat.controller.signal);
    if (!response.ok) {
      const message = await errorText(response);
      answer.fail(message);
      toast(message);
      return;
    }
    const result = await readStream(response, answer);
    if (result.error) {
      const message = result.error.detail || String(result.error.code);
      answer.fail(message);
      toast(message);
      return;
    }
    chat.parentId = turn.assistantId;
    if (result.done) answer.finish();
    else toast("The response ended before it was complete.");
  } catch (error) {
    console.error(error);
    if (error.name === "AbortError") {
      chat.parentId = turn.assistantId;
      answer.finish();
    } else {
      answer.fail(error.message);
      toast(error.message);
    }
  } finally {
    chat.controller = null;
    view.setBusy(false);
  }
}

async function openChat(chatId) {
  const record = await loadChat(session, chatId);
  if (!record) {
    toast("Chat not found");
    history.replaceState({}, "", "/");
    return;
  }
  chat.id = record.id;
  for (const message of branch(record)) {
    if (message.role === "user") view.addUser(message.id, message.content);
    else {
      view.addAssistant(message.id).finish();
      chat.parentId = message.id;
    }
  }
}

function newChat() {
  chat.id = null;
  chat.parentId = null;
  view.clear();
  history.pushState({}, "", "/");
}

async function main() {
  try {
    session = await bootstrap();
  } catch (error) {
    console.error(error);
    toast(error.message);
    return;
  }
  const layout = document.body.dataset.layout || "default";
  view = new ChatView(document.getElementById("app"), {
    layout, models: session.models, model: preselected(session.models, session.config),
    handlers: {submit: runTurn, stop: () => chat.controller?.abort(), newChat},
  });
  const path = location.pathname.match(/^\/c\/([^/]+)$/);
  if (path) await openChat(decodeURIComponent(path[1]));
}

main();
