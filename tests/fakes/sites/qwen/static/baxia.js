/* Stand-in for Alibaba's Baxia anti-bot SDK (mock of chat.qwen.ai).
 *
 * window.__baxia__.getFYModule.getUidToken() -> "T2gA..." (one per page)
 * window.__baxia__.getFYModule.getFYToken()  -> "234!..." (a fresh one per call)
 * window.baxiaCommon.getUA()                  -> "234!..." (likewise)
 * getFYModule.fyObj appears once the tokens are registered with the server (>= 200 ms);
 * "baxia:ready" is dispatched on window then. The tokens live bx_ttl_s on the server and
 * are registered again (the same umid, new FY tokens) at half their life.
 * Also writes the websdk device cookies ssxmod_itna / ssxmod_itna2.
 */
(function () {
  'use strict';
  var ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  var BATCH = 16;
  var READY_AFTER_MS = 200;

  function random(length) {
    var bytes = new Uint8Array(length);
    crypto.getRandomValues(bytes);
    var out = '';
    for (var i = 0; i < length; i++) out += ALPHABET[bytes[i] % 64];
    return out;
  }

  var umid = 'T2gA' + random(60);
  var minted = [];
  var handed = 0;

  function mint() {
    return '234!' + random(196);
  }

  function writeDeviceCookies() {
    var attrs = '; path=/; max-age=31536000; SameSite=Lax';
    if (document.cookie.indexOf('ssxmod_itna=') < 0) {
      document.cookie = 'ssxmod_itna=' + random(48).replace(/[+/]/g, 'x') + attrs;
    }
    if (document.cookie.indexOf('ssxmod_itna2=') < 0) {
      document.cookie = 'ssxmod_itna2=' + random(64).replace(/[+/]/g, 'x') + attrs;
    }
  }

  function register() {
    var batch = [];
    for (var i = 0; i < BATCH; i++) batch.push(mint());
    return fetch('/__mock__/baxia/issue', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ umid: umid, ua: batch }),
    })
      .then(function (response) { return response.json(); })
      .then(function (answer) {
        minted = minted.concat(batch);
        var ttl = Number(answer.ttl_s) || 600;
        setTimeout(register, ttl * 500);
      });
  }

  function nextFY() {
    if (!minted.length) return '';
    var token = minted[Math.min(handed, minted.length - 1)];
    handed += 1;
    if (handed === minted.length - 2) register();
    return token;
  }

  var fyModule = {
    getUidToken: function () { return umid; },
    getFYToken: nextFY,
  };
  window.__baxia__ = { getFYModule: fyModule, version: '2.5.37' };
  window.baxiaCommon = { getUA: nextFY };

  writeDeviceCookies();
  var registered = register();
  var delayed = new Promise(function (resolve) { setTimeout(resolve, READY_AFTER_MS); });
  Promise.all([registered, delayed]).then(function () {
    fyModule.fyObj = { ready: true, umid: umid };
    window.dispatchEvent(new Event('baxia:ready'));
  });
})();
