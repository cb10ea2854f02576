// X-Signature of a completion request (reference §2.6): HMAC-SHA256 keyed by the hex HMAC of the
// 5-minute time bucket, over "requestId,<id>,timestamp,<ts>,user_id,<uid>|<base64 prompt>|<ts>".
const SIGNING_KEY = "key-@@@@)))()((9))-xxxx&&&%%%%%";
const BUCKET_MS = 300000;
const encoder = new TextEncoder();

async function hmacHex(key, message) {
  const cryptoKey = await crypto.subtle.importKey(
    "raw", encoder.encode(key), {name: "HMAC", hash: "SHA-256"}, false, ["sign"]);
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", cryptoKey, encoder.encode(message)));
  return Array.from(mac, (b) => b.toString(16).padStart(2, "0")).join("");
}

function base64Utf8(text) {
  let binary = "";
  for (const byte of encoder.encode(text)) binary += String.fromCharCode(byte);
  return btoa(binary);
}

export async function signRequest({requestId, timestamp, userId, prompt}) {
  const ts = String(timestamp);
  const pairs = [["requestId", requestId], ["timestamp", ts], ["user_id", userId]]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const message = `${pairs.map(([k, v]) => `${k},${v}`).join(",")}|${base64Utf8(prompt)}|${ts}`;
  const bucket = String(Math.floor(Number(ts) / BUCKET_MS));
  return hmacHex(await hmacHex(SIGNING_KEY, bucket), message);
}
