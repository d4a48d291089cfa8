/**
 * Terminal styling. Colour is used only to highlight the unique prefix of
 * an id, as the Go `ii` tool does, and only when stdout is a terminal,
 * `NO_COLOR` is unset or empty and `TERM` is not `dumb` (the same test as
 * `ii`'s). Everything else, help and errors included, is plain text.
 *
 * @since 0.2.0
 */
import * as Context from "effect/Context"

/**
 * How ids are written: `prefix` is the part to highlight.
 *
 * @since 0.2.0
 * @category models
 */
export interface Style {
  readonly highlightPrefix: (id: string, prefixLength: number) => string
}

/**
 * Writes ids as they are.
 *
 * @since 0.2.0
 * @category constructors
 */
export const plain: Style = { highlightPrefix: (id) => id }

/**
 * Bold cyan for the highlighted prefix, `ii`'s colours.
 *
 * @since 0.2.0
 * @category constructors
 */
export const ansi: Style = {
  highlightPrefix: (id, n) =>
    n <= 0 || n > id.length ? id : `\x1b[1m\x1b[36m${id.slice(0, n)}\x1b[0m${id.slice(n)}`
}

/**
 * `ansi` when `isTTY` and the environment allow colour, else `plain`.
 *
 * @since 0.2.0
 * @category constructors
 */
export const forOutput = (isTTY: boolean, env: { readonly [name: string]: string | undefined }): Style =>
  isTTY && (env["NO_COLOR"] ?? "") === "" && env["TERM"] !== "dumb" ? ansi : plain

/**
 * The visible width of a cell: its length without ANSI escapes, so that
 * highlighted ids line up in tables.
 *
 * @since 0.2.0
 * @category rendering
 */
// eslint-disable-next-line no-control-regex
export const visibleLength = (text: string): number => text.replace(/\x1b\[[0-9;]*m/g, "").length

/**
 * The `Style` of the current output, provided by the binary.
 *
 * @since 0.2.0
 * @category tags
 */
export class CurrentStyle extends Context.Tag("@incrementum/state/cli/CurrentStyle")<CurrentStyle, Style>() {}
