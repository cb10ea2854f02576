// Stand-in for the Aliyun Captcha V3 web SDK (reference §2.5, §5.2). The page calls
// initAliyunCaptcha(opts); getInstance(instance) gets an object whose startTracelessVerification()
// ends in opts.success(param), param being Base64 of {certifyId, sceneId, isSign, securityToken}.
// The token comes from the site's own issuer; when it asks for a visible challenge, a checkbox
// popup must be clicked by a real (trusted) click before success is called.
(function () {
  "use strict";

  async function issue(payload) {
    const response = await fetch("/__mock__/captcha/issue", {
      method: "POST",
      headers: {"Content-Type": "application/json"},
      body: JSON.stringify(payload),
    });
    return response.json();
  }

  function popup(opts, challenge) {
    const box = document.createElement("div");
    box.id = "aliyunCaptcha-window-popup";
    box.className = "aliyunCaptcha-show";
    box.setAttribute("role", "dialog");
    const title = document.createElement("div");
    title.className = "aliyunCaptcha-title";
    title.textContent = "Please complete the security verification";
    const label = document.createElement("label");
    const checkbox = document.createElement("input");
    checkbox.type = "checkbox";
    checkbox.id = "aliyunCaptcha-checkbox";
    label.append(checkbox, " I am not a robot");
    box.append(title, label);
    document.body.append(box);
    checkbox.addEventListener("click", async (event) => {
      if (!event.isTrusted) {
        event.preventDefault();  // scripted clicks do not pass
        return;
      }
      checkbox.disabled = true;
      const answer = await issue({sceneId: opts.SceneId, origin: location.origin, challenge, solved: true});
      box.remove();
      if (answer.param) opts.success(answer.param);
      else if (opts.fail) opts.fail({code: "F001", message: answer.error || "verification failed"});
    });
  }

  window.initAliyunCaptcha = function (opts) {
    const instance = {
      startTracelessVerification() {
        setTimeout(async () => {
          try {
            const answer = await issue({sceneId: opts.SceneId, origin: location.origin});
            if (answer.challenge) popup(opts, answer.challenge);
            else opts.success(answer.param);
          } catch (err) {
            if (opts.fail) opts.fail({code: "NETWORK", message: String(err)});
          }
        }, 100);
      },
    };
    setTimeout(() => { if (opts.getInstance) opts.getInstance(instance); }, 0);
  };
})();
