/* The Baxia slider: drag span#nc_1_n1z to the end of the track with a real mouse.
 * Every event is sent with its isTrusted flag; the server only accepts a drag of trusted
 * events that reaches 90 % of the track. On success the parent page is told by
 * postMessage({type: "baxia:solved"}). */
(function () {
  'use strict';
  var handle = document.getElementById('nc_1_n1z');
  var scale = document.getElementById('nc_1__scale_text');
  var fill = document.getElementById('nc_1__bg');
  var label = scale.querySelector('.nc-lang-cnt');
  var dragging = null;
  var track = [];

  function room() {
    return scale.clientWidth - handle.offsetWidth;
  }

  function place(x) {
    var clamped = Math.max(0, Math.min(room(), x));
    handle.style.left = clamped + 'px';
    fill.style.width = clamped + handle.offsetWidth / 2 + 'px';
    return clamped;
  }

  function note(event, x) {
    track.push({ x: x, t: Math.round(performance.now()), trusted: event.isTrusted === true });
  }

  handle.addEventListener('mousedown', function (event) {
    event.preventDefault();
    dragging = { startX: event.clientX };
    track = [];
    note(event, 0);
  });

  document.addEventListener('mousemove', function (event) {
    if (!dragging) return;
    note(event, place(event.clientX - dragging.startX));
  });

  document.addEventListener('mouseup', function (event) {
    if (!dragging) return;
    var x = place(event.clientX - dragging.startX);
    note(event, x);
    dragging = null;
    submit();
  });

  function submit() {
    fetch('/__mock__/baxia/unpunish', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ x5secdata: window.__X5SECDATA__, width: room(), track: track }),
    })
      .then(function (response) { return response.json(); })
      .then(function (answer) {
        if (answer.success) {
          scale.classList.add('nc_done');
          label.textContent = 'Verified';
          window.parent.postMessage({ type: 'baxia:solved' }, '*');
        } else {
          label.textContent = 'Try again';
          place(0);
        }
      });
  }
})();
