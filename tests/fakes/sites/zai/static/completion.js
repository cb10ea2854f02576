// One turn on the wire (reference §2.4-§2.7, §5.2 SPA steps 4-6): chats/new on the first turn,
// the captcha token, the 34 fingerprint parameters, the signature, the completion via
// window.fetch, and the SSE reader.
import {signRequest} from "./sign.js";
import {authHeaders} from "./session.js";

const SCENE_ID = "didk33e0";
export const FE_VERSION = new URL(import.meta.url).pathname.match(/\/frontend\/(prod-fe-[\d.]+)\/assets\//)[1];
const WEEKDAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];

function randomChars(n) {
  const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  return Array.from(crypto.getRandomValues(new Uint8Array(n)), (b) => alphabet[b % alphabet.length]).join("");
}

export function deviceId() {
  let id = localStorage.getItem("device_id");
  if (!id) {
    id = `uid_${randomChars(16)}`;
    localStorage.setItem("device_id", id);
  }
  return id;
}

function browserName(ua) {
  if (/Edg\//.test(ua)) return "Edge";
  if (/Firefox\//.test(ua)) return "Firefox";
  if (/Chrome\//.test(ua)) return "Chrome";
  if (/Safari\//.test(ua)) return "Safari";
  return "Unknown";
}

function osName(ua) {
  for (const [pattern, name] of [[/Windows/, "Windows"], [/Mac OS X/, "Mac OS"], [/Android/, "Android"],
    [/iPhone|iPad/, "iOS"], [/Linux/, "Linux"]]) {
    if (pattern.test(ua)) return name;
  }
  return "Unknown";
}

// The query string in the order the real SPA builds it (34 parameters).
export function fingerprint({timestamp, requestId, userId, token, timezone}) {
  const ua = navigator.userAgent;
  const now = new Date(timestamp);
  const vw = window.innerWidth;
  const vh = window.innerHeight;
  return new URLSearchParams([
    ["timestamp", String(timestamp)], ["requestId", requestId], ["user_id", userId],
    ["version", "0.0.1"], ["platform", "web"], ["token", token], ["user_agent", ua],
    ["language", navigator.language], ["languages", navigator.languages.join(",")],
    ["timezone", timezone], ["cookie_enabled", String(navigator.cookieEnabled)],
    ["screen_width", String(screen.width)], ["screen_height", String(screen.height)],
    ["screen_resolution", `${screen.width}x${screen.height}`],
    ["viewport_height", String(vh)], ["viewport_width", String(vw)], ["viewport_size", `${vw}x${vh}`],
    ["color_depth", String(screen.colorDepth)], ["pixel_ratio", String(window.devicePixelRatio)],
    ["current_url", location.href], ["pathname", location.pathname], ["host", location.host],
    ["hostname", location.hostname], ["protocol", location.protocol], ["title", document.title],
    ["timezone_offset", String(now.getTimezoneOffset())], ["local_time", now.toLocaleString()],
    ["utc_time", now.toUTCString()], ["is_mobile", String(/Mobi/.test(ua))],
    ["is_touch", String("ontouchstart" in window)], ["max_touch_points", String(navigator.maxTouchPoints)],
    ["browser_name", browserName(ua)], ["os_name", osName(ua)], ["signature_timestamp", String(timestamp)],
  ]);
}

const pad = (n) => String(n).padStart(2, "0");

function variables(session) {
  const now = new Date();
  const date = `${now.getFullYear()}-${pad(now.getMonth() + 1)}-${pad(now.getDate())}`;
  const time = `${pad(now.getHours())}:${pad(now.getMinutes())}:${pad(now.getSeconds())}`;
  return {
    "{{USER_NAME}}": session.user.name, "{{USER_LOCATION}}": "Unknown",
    "{{CURRENT_DATETIME}}": `${date} ${time}`, "{{CURRENT_DATE}}": date, "{{CURRENT_TIME}}": time,
    "{{CURRENT_WEEKDAY}}": WEEKDAYS[now.getDay()], "{{CURRENT_TIMEZONE}}": session.timezone,
    "{{USER_LANGUAGE}}": navigator.language,
  };
}

// POST /api/v1/chats/new with the first user message (§2.4); the stored record comes back.
export async function createChat(session, turn) {
  const now = Date.now();
  const message = {id: turn.userId, parentId: null, childrenIds: [], role: "user", content: turn.prompt,
    timestamp: Math.floor(now / 1000), models: [turn.model.id]};
  const chat = {
    id: "", title: "New Chat", models: [turn.model.id], params: {},
    history: {messages: {[turn.userId]: message}, currentId: turn.userId},
    tags: [], flags: [], features: [{type: "tool_selector", server: "tool_selector_h", status: "hidden"}],
    mcp_servers: [], enable_thinking: turn.options.thinking, reasoning_effort: turn.options.effort,
    auto_web_search: false, message_version: 1, extra: {}, timestamp: now, type: "default",
  };
  const response = await window.fetch("/api/v1/chats/new", {
    method: "POST",
    headers: {...authHeaders(session.token), "Content-Type": "application/json", "x-region": "overseas"},
    body: JSON.stringify({chat}),
  });
  const data = await response.json();
  if (!response.ok) throw new Error(data.detail || `HTTP ${response.status}`);
  return data;
}

// The Aliyun widget's single-use token: traceless by default, a popup when the site asks.
export function solveCaptcha() {
  const config = window.AliyunCaptchaConfig || {};
  return new Promise((resolve, reject) => {
    window.initAliyunCaptcha({
      SceneId: SCENE_ID, mode: "popup", region: config.region, prefix: config.prefix,
      element: "#captcha-element", button: "#captcha-button",
      success: resolve,
      fail: (error) => reject(new Error(`Captcha failed: ${error.code || error}`)),
      getInstance: (instance) => instance.startTracelessVerification(),
    });
  });
}

function completionBody(session, turn, captcha) {
  const effort = turn.model.info?.meta?.capabilities?.reasoning_effort;
  const features = {
    image_generation: false, web_search: turn.options.webSearch, auto_web_search: false,
    preview_mode: true, flags: [], vlm_tools_enable: false, vlm_web_search_enable: false,
    vlm_website_mode: false, enable_thinking: turn.options.thinking,
    ...(effort ? {reasoning_effort: turn.options.effort} : {}),
  };
  return {
    stream: true, model: turn.model.id, messages: [{role: "user", content: turn.prompt}],
    signature_prompt: turn.prompt, params: {}, extra: {}, features, variables: variables(session),
    chat_id: turn.chatId, id: turn.assistantId, current_user_message_id: turn.userId,
    current_user_message_parent_id: turn.parentId,
    background_tasks: {title_generation: true, tags_generation: true},
    ...(captcha ? {captcha_verify_param: captcha} : {}),
  };
}

// POST /api/v2/chat/completions?<34 params>, signed, through window.fetch.
export async function sendCompletion(session, turn, captcha, signal) {
  const timestamp = Date.now();
  const requestId = crypto.randomUUID();
  const query = fingerprint({timestamp, requestId, userId: session.user.id, token: session.token,
    timezone: session.timezone});
  const signature = await signRequest({requestId, timestamp, userId: session.user.id, prompt: turn.prompt});
  return window.fetch(`/api/v2/chat/completions?${query}`, {
    method: "POST",
    headers: {
      ...authHeaders(session.token), "Content-Type": "application/json", Accept: "*/*",
      "Accept-Language": navigator.language, "X-FE-Version": FE_VERSION, "X-Signature": signature,
      "X-Region": "overseas", "X-Device-Id": deviceId(),
    },
    body: JSON.stringify(completionBody(session, turn, captcha)),
    signal,
  });
}

// Thinking and answer out of the 2025 encoding: reasoning inside <details>, lines prefixed "> ".
function splitLegacy(raw) {
  const close = raw.indexOf("</details>");
  const inner = (close < 0 ? raw : raw.slice(0, close))
    .replace(/^<details[^>]*>\n?/, "").replace(/<summary>[^<]*<\/summary>\n?/, "");
  const thinking = inner.split("\n").map((line) => line.replace(/^> ?/, "")).join("\n").trim();
  return {thinking, answer: close < 0 ? "" : raw.slice(close + "</details>".length).replace(/^\n/, "")};
}

// Reads the SSE body frame by frame, rendering into `view` as text arrives.
export async function readStream(response, view) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  const state = {thinking: "", answer: "", raw: "", legacy: false, done: false, error: null};
  let buffer = "";
  for (;;) {
    const {value, done} = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, {stream: true});
    const lines = buffer.split("\n");
    buffer = lines.pop();
    for (const line of lines) handleLine(line.replace(/\r$/, ""), state);
    render(state, view);
  }
  return state;
}

function handleLine(line, state) {
  if (!line.startsWith("data:")) return;
  const payload = line.slice(5).trim();
  if (payload === "[DONE]") return;
  let frame;
  try {
    frame = JSON.parse(payload);
  } catch (error) {
    console.warn("skipping a frame that is not JSON", error);
    return;
  }
  if (frame.type !== "chat:completion") return;
  const data = frame.data || {};
  const error = data.error || data.data?.error;
  if (error) {
    state.error = error;
    state.done = true;
    return;
  }
  if (data.role === "user") return;
  const delta = data.delta_content || "";
  if (data.phase === "thinking") {
    if (state.legacy || delta.startsWith("<details")) {
      state.legacy = true;
      state.raw += delta;
    } else {
      state.thinking += delta;
    }
  } else if (data.phase === "answer") {
    if (data.edit_content !== undefined) {
      state.legacy = true;
      state.raw = state.raw.slice(0, data.edit_index) + data.edit_content;
    } else if (state.legacy) {
      state.raw += delta;
    } else {
      state.answer += delta;
    }
  } else if (data.phase === "done" || data.done) {
    state.done = true;
  }
}

function render(state, view) {
  const {thinking, answer} = state.legacy ? splitLegacy(state.raw) : state;
  if (thinking) view.thinking(thinking);
  view.answer(answer);
}
