/**
 * Go's `filepath.Clean` for slash-separated paths: the shortest path
 * naming the same file by lexical processing alone (no symlinks resolved).
 */
export const cleanPath = (path: string): string => {
  if (path === "") return "."
  const rooted = path.startsWith("/")
  const out: Array<string> = []
  for (const part of path.split("/")) {
    if (part === "" || part === ".") continue
    if (part === "..") {
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
 * The Go tool's `SanitizeRepoName`: expands a leading `~/` with `home`
 * (joined and cleaned, like `filepath.Join`), drops one leading `/`,
 * lower-cases, turns `/` and spaces into `-`, drops everything outside
 * `[a-z0-9-]`, collapses runs of `-` and trims them from both ends.
 *
 * JavaScript's `toLowerCase` stands in for Go's `strings.ToLower`: they
 * differ only on characters whose lower case is not ASCII (or, for U+0130,
 * is ASCII plus a combining mark), and those are dropped either way.
 */
export const sanitizeRepoName = (path: string, home: string): string => {
  const expanded = path.startsWith("~/") ? cleanPath(`${home}/${path.slice(2)}`) : path
  const unrooted = expanded.startsWith("/") ? expanded.slice(1) : expanded
  return unrooted
    .toLowerCase()
    .replace(/[/ ]/g, "-")
    .replace(/[^a-z0-9-]/g, "")
    .replace(/-+/g, "-")
    .replace(/^-|-$/g, "")
}
