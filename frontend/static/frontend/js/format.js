// Number formats of the dashboard, one place: steps, settings (γ, β, lr), metrics, rates and counts.

const DASH = "—";

/** "5.00e-7" -> "5e-7", "1.20e+6" -> "1.2e6": the exponent form without padding zeros or a plus. */
function shortExponent(text) {
  const [mantissa, exponent] = text.split("e");
  return `${Number(mantissa)}e${Number(exponent)}`;
}

/** A measured value with `digits` significant digits: exponent form below 0.001 and from a million, grouped
 * integers from 10^digits (tokens/s 12,345), else plain (0.693, 5, 42.1). */
export function formatNumber(value, digits = 3) {
  if (value === null || value === undefined) return DASH;
  if (!Number.isFinite(value)) return String(value);
  const abs = Math.abs(value);
  if (abs !== 0 && (abs < 1e-3 || abs >= 1e6)) return shortExponent(value.toExponential(digits - 1));
  if (abs >= 10 ** digits) return Math.round(value).toLocaleString("en-US");
  return String(Number(value.toPrecision(digits)));
}

/** A learning rate, always in exponent form: 1e-5, 5e-7, 2.5e-4; exact unless `digits` (significant) is given. */
export function formatLearningRate(value, digits = null) {
  if (value === null || value === undefined || !Number.isFinite(value)) return formatNumber(value);
  return shortExponent(digits ? value.toExponential(digits - 1) : value.toExponential());
}

/** γ / β / lr of a run's resolved config, e.g. "5 / 0.5 / 5e-7". */
export function formatSettings(config) {
  return `${formatNumber(config.gamma)} / ${formatNumber(config.beta)} / ${formatLearningRate(config.learning_rate)}`;
}

/** A run's step out of its total ("?" while unknown): the same text in the table and over the chart. */
export function formatStep(step, total) {
  return `${step}/${total || "?"}`;
}

/** A share in [0, 1] as a percentage: 0.1334 -> "13.3%". */
export function formatPercent(rate, digits = 1) {
  if (rate === null || rate === undefined || !Number.isFinite(rate)) return DASH;
  return `${(100 * rate).toFixed(digits)}%`;
}

/** A count: an integer with thousands grouped (1,318). */
export function formatCount(value) {
  if (value === null || value === undefined) return DASH;
  return Number.isInteger(value) ? value.toLocaleString("en-US") : formatNumber(value);
}

/** A size in bytes for people: `812 B`, `4.2 KB`, `17.0 MB`. */
export function formatBytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}
