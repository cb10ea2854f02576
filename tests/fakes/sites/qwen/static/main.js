/* qwen-chat-fe (mock): the guest chat SPA of the offline chat.qwen.ai.
 *
 * Mirrors what the real SPA does for a guest (website-bridges.md §3.2-3.7): reads
 * /api/models, and on Enter sends POST /api/v2/chats/new (first turn) then
 * POST /api/v2/chat/completions?chat_id=... through window.fetch with the Baxia headers,
 * reads the SSE stream and renders thinking and answer. A punish answer opens the Baxia
 * slider dialog and the request is retried once after it is solved. Guest history lives
 * only in this browser (localStorage), as on the real site.
 */
(function () {
  'use strict';
  var BOOT = window.__QWEN_CHAT_BOOT__ || {};
  var HASHED = BOOT.layout === 'hashed';
  var STORE = 'qwen-guest-chats';
  var PLACEHOLDER = HASHED ? 'Ask Qwen anything' : 'How can I help you today?';
  var MODES = ['Auto', 'Thinking', 'Fast'];
  var app = { models: [], model: null, mode: 'Auto', chat: null, busy: false, modal: false, run: null };
  var ui = {};

  // -- DOM helpers ------------------------------------------------------------------------

  function hash(text) {
    var h = 5381;
    for (var i = 0; i < text.length; i++) h = ((h * 33) ^ text.charCodeAt(i)) >>> 0;
    return h.toString(36).slice(0, 5);
  }
  function cls(names) {
    if (!HASHED) return names;
    return names.split(' ').map(function (n) {
      if (/^(ant-|baxia-)/.test(n)) return n; // library classes keep their names
      return 'index-module__' + n.replace(/-/g, '_') + '___' + hash(n);
    }).join(' ');
  }
  function el(tag, names, attrs, children) {
    var node = document.createElement(tag);
    if (names) node.className = cls(names);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    (children || []).forEach(function (c) {
      node.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
    });
    return node;
  }
  function toast(text) {
    var box = document.querySelector('.ant-message') || document.body.appendChild(el('div', 'ant-message'));
    var content = el('div', 'ant-message-custom-content ant-message-error', {}, [el('span', '', {}, [text])]);
    box.appendChild(el('div', 'ant-message-notice', {}, [el('div', 'ant-message-notice-content', {}, [content])]));
  }
  function clearToasts() {
    var box = document.querySelector('.ant-message');
    if (box) box.textContent = '';
  }
  function modal(names, children) {
    var root = el('div', 'ant-modal-root', {}, [
      el('div', 'ant-modal-mask'),
      el('div', 'ant-modal-wrap', {}, [el('div', 'ant-modal ' + names, { role: 'dialog' }, [
        el('div', 'ant-modal-content', {}, [el('div', 'ant-modal-body', {}, children)]),
      ])]),
    ]);
    document.body.appendChild(root);
    return root;
  }

  // -- guest history (browser only) -------------------------------------------------------

  function loadChats() {
    try { return JSON.parse(localStorage.getItem(STORE) || '{}'); } catch (e) { return {}; }
  }
  function saveChat() {
    if (!app.chat || !app.chat.id) return;
    var all = loadChats();
    all[app.chat.id] = app.chat;
    localStorage.setItem(STORE, JSON.stringify(all));
  }

  // -- Baxia and headers ------------------------------------------------------------------

  function fy() { return window.__baxia__ && window.__baxia__.getFYModule; }
  function baxiaReady() {
    return new Promise(function (resolve) {
      if (fy() && fy().fyObj) resolve();
      else window.addEventListener('baxia:ready', function () { resolve(); }, { once: true });
    });
  }
  function timezone() { return new Date().toString().replace(/ \(.*\)$/, ''); }
  function headers(streaming) {
    var h = {
      'Content-Type': 'application/json',
      Accept: streaming ? 'application/json' : 'application/json, text/plain, */*',
      'bx-ua': fy().getFYToken(),
      'bx-umidtoken': fy().getUidToken(),
      'bx-v': BOOT.bxV,
      source: 'web',
      version: BOOT.spa,
      'x-request-id': crypto.randomUUID(),
      Timezone: timezone(),
    };
    if (streaming) h['X-Accel-Buffering'] = 'no';
    return h;
  }
  function post(url, body, streaming) {
    return window.fetch(url, {
      method: 'POST', headers: headers(streaming), body: JSON.stringify(body), credentials: 'include',
    });
  }

  // -- rendering --------------------------------------------------------------------------

  function renderLoginWall() {
    ui.root.textContent = '';
    modal('login-modal', [
      el('h2', 'login-title', {}, ['Log in to Qwen Chat']),
      el('p', '', {}, ['Sign in to continue chatting.']),
      el('button', 'ant-btn ant-btn-primary login-button', { type: 'button' }, ['Log in']),
      el('button', 'ant-btn signup-button', { type: 'button' }, ['Sign up']),
    ]);
  }

  function renderLanding() {
    var start = el('button', 'ant-btn ant-btn-primary get-started-button', { type: 'button' }, ['Get Started']);
    start.addEventListener('click', renderLoginWall);
    ui.root.textContent = '';
    ui.root.appendChild(el('div', 'guest-landing', {}, [
      el('h1', 'landing-title', {}, ['Qwen Chat']),
      el('div', 'landing-input-area', {}, [el('textarea', 'landing-textarea', { placeholder: PLACEHOLDER })]),
      start,
      el('a', 'continue-as-guest', { href: '/c/guest' }, ['Continue as guest']),
      el('button', 'ant-btn login-button', { type: 'button' }, ['Log in']),
    ]));
  }

  function menu(items, pick) {
    var list = el('ul', 'ant-dropdown-menu', { role: 'menu' });
    items.forEach(function (item) {
      var li = el('li', 'ant-dropdown-menu-item', Object.assign({ role: 'menuitem' }, item.attrs), [item.label]);
      li.addEventListener('click', function (e) { e.stopPropagation(); pick(item); list.remove(); });
      list.appendChild(li);
    });
    return list;
  }

  function renderChat() {
    ui.picker = el('div', 'mode-select-open', { role: 'button' }, [app.model ? app.model.name : '']);
    var trigger = el('span', 'ant-dropdown-trigger', {}, [ui.picker]);
    trigger.addEventListener('click', function () {
      trigger.appendChild(menu(app.models.map(function (m) {
        return { label: m.name, attrs: { 'data-model-id': m.id }, model: m };
      }), function (item) { app.model = item.model; ui.picker.textContent = item.model.name; }));
    });
    ui.modeLabel = el('span', 'qwen-thinking-selector-label', {}, [app.mode]);
    var thinking = el('div', 'qwen-thinking-selector', { role: 'button' }, [ui.modeLabel]);
    thinking.addEventListener('click', function () {
      thinking.appendChild(menu(MODES.map(function (m) {
        return { label: m, attrs: { 'data-mode': m } };
      }), function (item) { app.mode = item.label; ui.modeLabel.textContent = item.label; }));
    });
    ui.input = el('textarea', 'message-input-textarea', { placeholder: PLACEHOLDER, rows: '1' });
    ui.input.addEventListener('input', updateSend);
    ui.input.addEventListener('keydown', function (e) {
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); submit(); }
    });
    ui.send = el('div', 'message-input-right-button-send');
    ui.turns = el('div', 'chat-messages', { id: 'chat-messages-scroll-container' });
    ui.root.textContent = '';
    ui.root.appendChild(el('div', 'chat-layout', {}, [
      el('header', 'chat-header', {}, [el('div', 'mode-select', {}, [trigger])]),
      ui.turns,
      el('div', 'message-input-container', {}, [
        el('div', 'message-input-container-area', {}, [ui.input]),
        el('div', 'message-input-right-button', {}, [thinking, ui.send]),
      ]),
    ]));
    (app.chat.turns || []).forEach(function (t) { fillTurn(addTurn(t.user), t); });
    updateSend();
  }

  function updateSend() {
    ui.send.textContent = '';
    if (app.busy) {
      var stop = el('button', 'stop-button', { type: 'button', 'aria-label': 'Stop' }, ['■']);
      stop.addEventListener('click', stopRun);
      ui.send.appendChild(el('div', 'chat-prompt-send-button', {}, [stop]));
    } else if (ui.input.value && !HASHED) {
      var send = el('button', 'send-button', { type: 'button', id: 'send-message-button', 'aria-label': 'Send' }, ['↑']);
      send.addEventListener('click', submit);
      ui.send.appendChild(el('div', 'chat-prompt-send-button', {}, [send]));
    } else {
      ui.send.appendChild(el('span', 'microphone-icon', { 'aria-label': 'Voice input' }, ['🎤']));
    }
  }

  function addTurn(text) {
    var view = {
      thinking: el('div', 'response-message-content phase-thinking_summary'),
      answer: el('div', 'response-message-content phase-answer'),
    };
    view.response = el('div', 'chat-response-message', {}, [view.thinking, view.answer]);
    ui.turns.appendChild(el('div', 'chat-turn', {}, [el('div', 'user-message', {}, [text]), view.response]));
    return view;
  }

  function fillTurn(view, turn) {
    if (turn.think) view.thinking.className = cls('response-message-content phase-think');
    if (turn.thoughts && turn.thoughts.length) {
      view.thinking.textContent = '';
      var lines = turn.thoughts.map(function (t) { return el('p', 'thinking-summary-thought', {}, [t]); });
      view.thinking.appendChild(el('details', 'thinking-summary', { open: '' }, [
        el('summary', 'thinking-summary-title', {}, [turn.title || '']),
      ].concat(lines)));
    } else if (turn.think) {
      view.thinking.textContent = turn.think;
    }
    view.answer.textContent = turn.answer || '';
    if (turn.responseId) view.response.setAttribute('data-response-id', turn.responseId);
  }

  // -- a turn -----------------------------------------------------------------------------

  function submit() {
    var text = ui.input.value;
    if (app.busy || app.modal || !text.trim()) return;
    ui.input.value = '';
    runTurn(text);
  }

  async function runTurn(text) {
    app.busy = true;
    clearToasts();
    updateSend();
    var turn = { user: text, thoughts: [], title: '', think: '', answer: '', responseId: null };
    var run = { turn: turn, view: addTurn(text), finished: false, error: null };
    app.run = run;
    app.chat.turns.push(turn);
    try {
      await baxiaReady();
      if (!app.chat.id && !(await createChat())) return;
      await complete(run, 0);
    } catch (error) {
      console.error(error);
      toast('Network error, please try again later.');
    } finally {
      app.busy = false;
      app.run = null;
      saveChat();
      updateSend();
    }
  }

  async function createChat(attempt) {
    var body = {
      title: 'New Chat', models: [app.model.id], chat_mode: 'guest', chat_type: 't2t',
      timestamp: Date.now(), project_id: '',
    };
    var answer = await readWhole(await post('/api/v2/chats/new', body, false));
    if (answer.punish && !attempt) {
      await slider(answer.punish);
      return createChat(1);
    }
    if (!answer.json || !answer.json.success) return refuse(answer);
    app.chat.id = answer.json.data.id;
    app.chat.model = app.model.id;
    history.pushState({}, '', '/c/' + app.chat.id);
    return true;
  }

  function completionBody(text) {
    var caps = (app.model.info && app.model.info.meta && app.model.info.meta.capabilities) || {};
    var parent = app.chat.lastResponseId || null;
    var now = Math.floor(Date.now() / 1000);
    return {
      stream: true, version: '2.1', incremental_output: true, chat_id: app.chat.id,
      chat_mode: 'guest', model: app.model.id, parent_id: parent, timestamp: now,
      messages: [{
        id: null, fid: crypto.randomUUID(), parentId: parent, parent_id: parent,
        childrenIds: [crypto.randomUUID()], role: 'user', content: text, user_action: 'chat',
        files: [], timestamp: now, models: [app.model.id], model: '', chat_type: 't2t',
        feature_config: {
          thinking_enabled: Boolean(caps.thinking) && app.mode !== 'Fast', output_schema: 'phase',
          research_mode: 'normal', auto_thinking: app.mode === 'Auto', thinking_mode: app.mode,
          thinking_format: 'summary', auto_search: false,
        },
        extra: { meta: { subChatType: 't2t' } }, sub_chat_type: 't2t',
      }],
    };
  }

  async function complete(run, attempt) {
    var url = '/api/v2/chat/completions?chat_id=' + encodeURIComponent(app.chat.id);
    var response = await post(url, completionBody(run.turn.user), true);
    var answer = await readBody(response, run);
    if (answer.sse) return finishRun(run);
    if (answer.punish && !attempt) {
      await slider(answer.punish);
      return complete(run, 1);
    }
    return refuse(answer);
  }

  function finishRun(run) {
    if (run.error) toast(run.error);
    else if (!run.finished) toast('The response was interrupted, please try again.');
  }

  function refuse(answer) {
    var data = answer.json && answer.json.data;
    if (answer.punish) toast('Verification failed, please try again later.');
    else if (data && (data.details || data.code)) toast(data.details || data.code);
    else if (answer.json && answer.json.detail) toast(String(answer.json.detail));
    else {
      console.error(new SyntaxError('Unexpected token < in JSON (HTTP ' + answer.status + ')'));
      toast('Network error, please try again later.');
    }
    return false;
  }

  async function readWhole(response) {
    var text = await response.text();
    return classify(response.status, text);
  }

  function classify(status, text) {
    var answer = { status: status, json: null, punish: null };
    try { answer.json = JSON.parse(text); } catch (e) { return answer; }
    var ret = answer.json && answer.json.ret;
    if (Array.isArray(ret) && ret.join(' ').indexOf('FAIL_SYS_USER_VALIDATE') >= 0) {
      answer.punish = answer.json.data && answer.json.data.url;
    }
    return answer;
  }

  /* Reads the body as it comes; SSE (sniffed, whatever the content type says) is rendered
   * frame by frame, anything else is classified whole at the end. */
  async function readBody(response, run) {
    var reader = response.body.getReader();
    var decoder = new TextDecoder();
    var text = '';
    var sse = null;
    for (;;) {
      var part = await reader.read();
      text += part.done ? decoder.decode() : decoder.decode(part.value, { stream: true });
      if (sse === null && text.replace(/^\s+/, '')) sse = /^\s*(data:|:|event:)/.test(text);
      if (sse) text = drain(text, run, part.done);
      if (part.done) break;
    }
    return sse ? { sse: true } : classify(response.status, text);
  }

  function drain(buffer, run, all) {
    var events = buffer.split(/\r?\n\r?\n/);
    var rest = all ? '' : events.pop();
    events.forEach(function (event) {
      var data = event.split(/\r?\n/).filter(function (l) { return l.indexOf('data:') === 0; })
        .map(function (l) { return l.slice(5).replace(/^ /, ''); }).join('\n');
      if (data.trim()) onFrame(data.trim(), run);
    });
    return rest;
  }

  function onFrame(data, run) {
    if (data === '[DONE]') return;
    var frame;
    try { frame = JSON.parse(data); } catch (e) { console.warn('skipping a bad frame'); return; }
    var created = frame['response.created'];
    if (created) {
      run.turn.responseId = created.response_id;
      app.chat.lastResponseId = created.response_id;
      run.view.response.setAttribute('data-response-id', created.response_id);
      if (run.stopWanted) stopRun();
      return;
    }
    if (frame.error) { run.error = frame.error.details || frame.error.code; return; }
    if (frame.data_inspection_failed) { run.error = 'Content security warning'; return; }
    var delta = frame.choices && frame.choices[0] && frame.choices[0].delta;
    if (!delta || (delta.role && delta.role !== 'assistant')) return;
    onDelta(delta, run);
  }

  function merged(current, content) {
    return current && content.indexOf(current) === 0 ? content : current + content;
  }

  function onDelta(delta, run) {
    var turn = run.turn;
    if (delta.phase === 'thinking_summary') {
      var extra = delta.extra || {};
      turn.title = ((extra.summary_title || {}).content || []).join(' ');
      turn.thoughts = (extra.summary_thought || {}).content || [];
    } else if (delta.phase === 'think' && delta.content) {
      turn.think = merged(turn.think, delta.content);
    } else if (delta.phase === 'answer') {
      if (delta.content) turn.answer = merged(turn.answer, delta.content);
      if (delta.status === 'finished') run.finished = true;
    }
    fillTurn(run.view, turn);
  }

  /* Stop as soon as the answer has an id (a click before response.created waits for it). */
  async function stopRun() {
    var run = app.run;
    if (!run) return;
    run.stopWanted = true;
    if (!run.turn.responseId || run.stopSent) return;
    run.stopSent = true;
    await post('/api/v2/chat/completions/stop', { chat_id: app.chat.id, response_id: run.turn.responseId }, false);
  }

  // -- the Baxia slider -------------------------------------------------------------------

  function slider(url) {
    return new Promise(function (resolve) {
      var frame = el('iframe', 'baxia-dialog-iframe', { id: 'baxia-dialog-content', src: url });
      var dialog = el('div', 'baxia-dialog', {}, [el('div', 'baxia-dialog-mask'),
        el('div', 'baxia-dialog-box', {}, [frame])]);
      function solved(event) {
        if (!event.data || event.data.type !== 'baxia:solved') return;
        window.removeEventListener('message', solved);
        dialog.remove();
        resolve();
      }
      window.addEventListener('message', solved);
      document.body.appendChild(dialog);
    });
  }

  // -- start ------------------------------------------------------------------------------

  function keepSessionPopup() {
    app.modal = true;
    ui.input.readOnly = true;
    var keep = el('button', 'ant-btn ant-btn-primary', { type: 'button' }, ['Keep session ended']);
    var root = modal('keep-session-modal', [el('p', '', {}, ['Your previous session has ended.']), keep]);
    keep.addEventListener('click', function () {
      root.remove();
      app.modal = false;
      ui.input.readOnly = false;
    });
  }

  async function boot() {
    ui.root = document.getElementById('root');
    sessionStorage.removeItem('acw_tries'); // the WAF challenge page counts its reloads there
    if (BOOT.loginWall) return renderLoginWall();
    if (BOOT.hydrateMs) await new Promise(function (r) { setTimeout(r, BOOT.hydrateMs); });
    var listed = await (await window.fetch('/api/models', { credentials: 'include' })).json();
    window.fetch('/api/v2/configs/', { credentials: 'include' });
    app.models = listed.data || [];
    if (BOOT.route === 'landing') return renderLanding();
    var stored = BOOT.chatId ? loadChats()[BOOT.chatId] : null;
    app.chat = stored || { id: BOOT.chatId, model: null, lastResponseId: null, turns: [] };
    var wanted = app.chat.model && app.models.filter(function (m) { return m.id === app.chat.model; })[0];
    app.model = wanted || app.models.filter(function (m) { return m.info && m.info.is_visitor_active; })[0];
    renderChat();
    if (BOOT.keepSessionPopup) keepSessionPopup();
  }

  boot().catch(function (error) {
    console.error(error);
    toast('Failed to load, please refresh the page.');
  });
})();
