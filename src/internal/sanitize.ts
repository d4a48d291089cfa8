/**
 * Go's `filepath.Clean` (Unix): the shortest path naming the same file by
 * lexical processing alone. Symlinks are not resolved, so `a/..` becomes `.`
 * even when `a` is a link; that is what the Go tool compares, so we must too.
 */
export const cleanPath = (path: string): string => {
  if (path === "") return "."
  const rooted = path.startsWith("/")
  const out: Array<string> = []
  for (const part of path.split("/")) {
    if (part === "" || part === ".") continue
    if (part === "..") {
      // `..` cancels a real element; at the root it is dropped, and a
      // relative path keeps the `..`s it cannot cancel.
      if (out.length > 0 && out[out.length - 1] !== "..") out.pop()
      else if (!rooted) out.push("..")
      continue
    }
    out.push(part)
  }
  const joined = out.join("/")
  return rooted ? "/" + joined : joined === "" ? "." : joined
}

/**
 * Go's `unicode.ToLower` for one code point, as a string.
 *
 * Go lowers rune by rune with the simple (one-to-one) mapping and no context.
 * JavaScript's `toLowerCase` uses the full mapping: U+0130 becomes two code
 * points (`i` + U+0307) where Go gives `i`, and on a whole string a `Σ` at the
 * end of a word becomes `ς`. Lowering one code point at a time removes the
 * context, and U+0130 is the only code point whose full mapping is longer.
 */
const lowerRune = (char: string): string => (char === "\u0130" ? "i" : char.toLowerCase())

/**
 * Go's `strings.ToLower`, code point by code point (see `lowerRune`).
 * Unicode versions may differ between Go and the JavaScript engine, but only
 * for letters whose lower case is outside ASCII, which the repo name drops.
 */
const goToLower = (s: string): string => {
  let out = ""
  for (const char of s) out += lowerRune(char)
  return out
}

/**
 * The Go tool's `SanitizeRepoName`: the name a source repository is recorded
 * under in the state file, so that both tools pick the same name for the same
 * path. `home` stands in for Go's home-directory lookup; `""` means the lookup
 * failed, where Go strips the `~/` and leaves the rest unexpanded and uncleaned.
 */
export const sanitizeRepoName = (path: string, home: string): string => {
  let expanded = path
  if (path.startsWith("~/")) {
    const rest = path.slice(2)
    // filepath.Join cleans the joined path, so `..` and `//` vanish here only.
    expanded = home === "" ? rest : cleanPath(`${home}/${rest}`)
  }
  const unrooted = expanded.startsWith("/") ? expanded.slice(1) : expanded
  return goToLower(unrooted)
    .replace(/[/ ]/g, "-")
    .replace(/[^a-z0-9-]/g, "")
    .replace(/-+/g, "-")
    .replace(/^-+|-+$/g, "")
}
