/**
 * The first key that appears twice in one object of a JSON text, or null. JSON.parse keeps the last
 * of them in silence, so `{"role":"viewer","role":"admin"}` would be read as admin while a proxy, a
 * log or a person reading the body sees viewer first: both APIs refuse such a body (400) instead.
 * `text` must already be valid JSON (JSON.parse accepted it).
 */
export function duplicateKey(text: string): string | null {
  // One entry per open object (its keys so far) or array (null).
  const open: (Set<string> | null)[] = [];
  let atKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      let end = i + 1;
      while (text[end] !== '"') end += text[end] === "\\" ? 2 : 1;
      const keys = open[open.length - 1];
      if (keys && atKey) {
        const key = JSON.parse(text.slice(i, end + 1)) as string;
        if (keys.has(key)) return key;
        keys.add(key);
        atKey = false;
      }
      i = end;
    } else if (c === "{") {
      open.push(new Set());
      atKey = true;
    } else if (c === "[") open.push(null);
    else if (c === "}" || c === "]") open.pop();
    else if (c === ",") atKey = open[open.length - 1] != null;
  }
  return null;
}
