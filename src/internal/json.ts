/**
 * A strict RFC 8259 JSON parser for the cases `JSON.parse` cannot serve:
 * locating a syntax error (V8's messages carry no reliable position), and
 * reading a file whose member values must be checked at the token level
 * (a number written `1e2` or `1.0` where Go wants an integer, a timestamp
 * written with escapes, which Go's time parser refuses).
 *
 * It accepts exactly what `JSON.parse` accepts and builds the same values,
 * except that unpaired surrogate escapes become U+FFFD as in Go.
 */

/** What the parser noticed about a member value's spelling. */
export type Spelling = "fraction-or-exponent" | "escaped"

/** Per object, the members whose value was spelled in a way `JSON.parse` hides. */
export type Spellings = WeakMap<object, Map<string, Spelling>>

/** A syntax error at a position of the text. */
export class JsonSyntaxError {
  constructor(
    readonly offset: number,
    readonly line: number,
    readonly column: number,
    readonly expected: string,
    readonly found: string
  ) {}
}

/** Deeper nesting is refused: the state's own structure is 8 levels deep. */
export const maxDepth = 1000

const describe = (text: string, i: number): string => {
  if (i >= text.length) return "end of input"
  const c = text.codePointAt(i)!
  if (c < 0x20 || c === 0x7f) return `control character U+${c.toString(16).toUpperCase().padStart(4, "0")}`
  if (c === 0xfeff) return "a byte order mark (U+FEFF)"
  return JSON.stringify(String.fromCodePoint(c))
}

const setMember = (obj: Record<string, unknown>, key: string, value: unknown): void => {
  // A "__proto__" member is data, as in JSON.parse; assignment would set the prototype.
  if (key === "__proto__") Object.defineProperty(obj, key, { value, writable: true, enumerable: true, configurable: true })
  else obj[key] = value
}

/**
 * Parses `text`. Throws `JsonSyntaxError` at the first error. When
 * `spellings` is given, records member values whose spelling matters (see
 * `Spelling`).
 */
export const parse = (text: string, spellings?: Spellings): unknown => {
  let i = 0
  let depth = 0

  const fail = (expected: string, at = i): never => {
    let line = 1
    let lineStart = 0
    for (let k = 0; k < at; k++) {
      if (text.charCodeAt(k) === 10) {
        line++
        lineStart = k + 1
      }
    }
    throw new JsonSyntaxError(at, line, at - lineStart + 1, expected, describe(text, at))
  }

  const skipWhitespace = () => {
    for (;;) {
      const c = text.charCodeAt(i)
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) i++
      else return
    }
  }

  let lastSpelling: Spelling | undefined

  const parseString = (): string => {
    // i is at the opening quote
    i++
    let out = ""
    let start = i
    let escaped = false
    for (;;) {
      if (i >= text.length) fail("a closing '\"'")
      const c = text.charCodeAt(i)
      if (c === 0x22) {
        out += text.slice(start, i)
        i++
        break
      }
      if (c < 0x20) fail("a string character (control characters must be escaped)")
      if (c !== 0x5c) {
        i++
        continue
      }
      escaped = true
      out += text.slice(start, i)
      const e = text.charCodeAt(i + 1)
      switch (e) {
        case 0x22:
          out += "\""
          break
        case 0x5c:
          out += "\\"
          break
        case 0x2f:
          out += "/"
          break
        case 0x62:
          out += "\b"
          break
        case 0x66:
          out += "\f"
          break
        case 0x6e:
          out += "\n"
          break
        case 0x72:
          out += "\r"
          break
        case 0x74:
          out += "\t"
          break
        case 0x75: {
          const hex = text.slice(i + 2, i + 6)
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) fail("four hex digits after '\\u'", i + 2)
          out += String.fromCharCode(parseInt(hex, 16))
          i += 4
          break
        }
        default:
          fail("a valid escape character", i + 1)
      }
      i += 2
      start = i
    }
    lastSpelling = escaped ? "escaped" : undefined
    return out.isWellFormed() ? out : out.toWellFormed()
  }

  const parseNumber = (): number => {
    const start = i
    if (text.charCodeAt(i) === 0x2d) i++
    const first = text.charCodeAt(i)
    if (first === 0x30) i++
    else if (first >= 0x31 && first <= 0x39) while (isDigit(text.charCodeAt(i))) i++
    else fail("a digit")
    let plain = true
    if (text.charCodeAt(i) === 0x2e) {
      plain = false
      i++
      if (!isDigit(text.charCodeAt(i))) fail("a digit after '.'")
      while (isDigit(text.charCodeAt(i))) i++
    }
    const e = text.charCodeAt(i)
    if (e === 0x65 || e === 0x45) {
      plain = false
      i++
      const sign = text.charCodeAt(i)
      if (sign === 0x2b || sign === 0x2d) i++
      if (!isDigit(text.charCodeAt(i))) fail("a digit in the exponent")
      while (isDigit(text.charCodeAt(i))) i++
    }
    lastSpelling = plain ? undefined : "fraction-or-exponent"
    return Number(text.slice(start, i))
  }

  const parseLiteral = (word: string, value: unknown): unknown => {
    for (let k = 0; k < word.length; k++) {
      if (text.charCodeAt(i + k) !== word.charCodeAt(k)) fail(`'${word}'`, i + k)
    }
    i += word.length
    lastSpelling = undefined
    return value
  }

  const parseValue = (): unknown => {
    skipWhitespace()
    const c = text.charCodeAt(i)
    switch (c) {
      case 0x7b:
        return parseObject()
      case 0x5b:
        return parseArray()
      case 0x22:
        return parseString()
      case 0x74:
        return parseLiteral("true", true)
      case 0x66:
        return parseLiteral("false", false)
      case 0x6e:
        return parseLiteral("null", null)
      default:
        if (c === 0x2d || isDigit(c)) return parseNumber()
        return fail("a JSON value")
    }
  }

  const enter = () => {
    if (++depth > maxDepth) fail(`nesting at most ${maxDepth} deep`)
  }

  const parseObject = (): Record<string, unknown> => {
    enter()
    i++
    const obj: Record<string, unknown> = {}
    let marks: Map<string, Spelling> | undefined
    skipWhitespace()
    if (text.charCodeAt(i) === 0x7d) {
      i++
    } else {
      for (;;) {
        skipWhitespace()
        if (text.charCodeAt(i) !== 0x22) fail("a string key")
        const key = parseString()
        skipWhitespace()
        if (text.charCodeAt(i) !== 0x3a) fail("':' after an object key")
        i++
        const value = parseValue()
        setMember(obj, key, value)
        if (spellings !== undefined) {
          if (lastSpelling !== undefined) (marks ??= new Map()).set(key, lastSpelling)
          else marks?.delete(key)
        }
        skipWhitespace()
        const c = text.charCodeAt(i)
        i++
        if (c === 0x7d) break
        if (c !== 0x2c) fail("',' or '}' in an object", i - 1)
      }
    }
    if (marks !== undefined) spellings!.set(obj, marks)
    depth--
    lastSpelling = undefined
    return obj
  }

  const parseArray = (): Array<unknown> => {
    enter()
    i++
    const arr: Array<unknown> = []
    skipWhitespace()
    if (text.charCodeAt(i) === 0x5d) {
      i++
    } else {
      for (;;) {
        arr.push(parseValue())
        skipWhitespace()
        const c = text.charCodeAt(i)
        i++
        if (c === 0x5d) break
        if (c !== 0x2c) fail("',' or ']' in an array", i - 1)
      }
    }
    depth--
    lastSpelling = undefined
    return arr
  }

  const value = parseValue()
  skipWhitespace()
  if (i < text.length) fail("end of input after the JSON value")
  return value
}

const isDigit = (c: number) => c >= 0x30 && c <= 0x39

/**
 * Decodes UTF-8 bytes the way Go's JSON decoder reads them: every byte that
 * is not part of a valid sequence becomes one U+FFFD. (`TextDecoder` and
 * `Buffer#toString` replace maximal subparts instead, which can turn two bad
 * bytes into one U+FFFD and change the text Go would write.) Surrogate code
 * points encoded in UTF-8 are invalid, as in Go.
 */
export const decodeUtf8LikeGo = (bytes: Uint8Array): string => {
  const decoder = new TextDecoder("utf-8", { fatal: false, ignoreBOM: true })
  let out = ""
  let runStart = 0
  let i = 0
  const n = bytes.length
  while (i < n) {
    const b = bytes[i]!
    if (b < 0x80) {
      i++
      continue
    }
    const len = validSequenceLength(bytes, i)
    if (len > 0) {
      i += len
      continue
    }
    out += decoder.decode(bytes.subarray(runStart, i)) + "\ufffd"
    i++
    runStart = i
  }
  return out + decoder.decode(bytes.subarray(runStart, n))
}

const cont = (b: number | undefined) => b !== undefined && (b & 0xc0) === 0x80

const validSequenceLength = (bytes: Uint8Array, i: number): number => {
  const b0 = bytes[i]!
  const b1 = bytes[i + 1]
  if (b0 >= 0xc2 && b0 <= 0xdf) return cont(b1) ? 2 : 0
  if (b0 >= 0xe0 && b0 <= 0xef) {
    if (!cont(b1) || !cont(bytes[i + 2])) return 0
    if (b0 === 0xe0 && b1! < 0xa0) return 0 // overlong
    if (b0 === 0xed && b1! >= 0xa0) return 0 // surrogate
    return 3
  }
  if (b0 >= 0xf0 && b0 <= 0xf4) {
    if (!cont(b1) || !cont(bytes[i + 2]) || !cont(bytes[i + 3])) return 0
    if (b0 === 0xf0 && b1! < 0x90) return 0 // overlong
    if (b0 === 0xf4 && b1! >= 0x90) return 0 // beyond U+10FFFF
    return 4
  }
  return 0
}
