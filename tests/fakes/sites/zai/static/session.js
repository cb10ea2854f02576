// Guest bootstrap and page-load calls (reference §2.2, §5.2 SPA steps 1-2).

async function getJSON(path, options = {}) {
  const response = await window.fetch(path, options);
  const data = await response.json();  // an HTML answer throws SyntaxError, as on the real site
  if (!response.ok) throw new Error(data.detail || `HTTP ${response.status}`);
  return data;
}

export function authHeaders(token) {
  return {Authorization: `Bearer ${token}`};
}

// GET /api/v1/auths/ with the stored bearer (or none); the answer's token replaces the stored one,
// so a stale session silently becomes a fresh guest.
export async function bootstrap() {
  const stored = localStorage.getItem("token");
  const user = await getJSON("/api/v1/auths/", {headers: stored ? authHeaders(stored) : {}});
  localStorage.setItem("token", user.token);
  const [config, models] = await Promise.all([getJSON("/api/config"), getJSON("/api/models")]);
  const timezone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  await Promise.all([getJSON("/api/v1/scene-cfg/"), getJSON("/api/v1/users/user/settings")]);
  await getJSON("/api/v1/users/user/settings/update", {
    method: "POST",
    headers: {"Content-Type": "application/json"},
    body: JSON.stringify({ui: {timezone}}),
  });
  return {user, token: user.token, config, models: models.data, timezone};
}

// The stored chat behind /c/<id>, or null when this guest has no such chat.
export async function loadChat(session, chatId) {
  const response = await window.fetch(`/api/v1/chats/${encodeURIComponent(chatId)}`, {
    headers: authHeaders(session.token),
  });
  if (!response.ok) return null;
  return response.json();
}

// The messages of the current branch, oldest first.
export function branch(record) {
  const history = record.chat.history || {messages: {}, currentId: null};
  const chain = [];
  let node = history.messages[history.currentId];
  while (node) {
    chain.unshift(node);
    node = history.messages[node.parentId];
  }
  return chain;
}
