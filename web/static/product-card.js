// The product the shop's page is about, read from the widget's address, for the widget's "Share product" button
// (docs/configuration.md, "The widget's page parameters"):
//
//   /?product_id=SKU-1042&product_title=Trail%20Runner%202&product_price=599&product_currency=CNY
//     &product_url=https://shop.example.com/p/SKU-1042&product_image=https://img.example.com/1042.jpg
//
// product_id and product_title name the product: without both (or with either refused) the page names none and
// the button is hidden. The others are optional: one that is refused is left off the card and the rest is sent.
// Every refusal is reported as {param, reason} (the widget logs them for the shop's developer), and the card
// keeps within what the server takes for a product message (docs/protocol.md, "Message types").

export const LIMITS = { id: 64, title: 200, url: 2048, price: 1e12 };

const CONTROL = /[\u0000-\u001f\u007f]/;
const PRICE = /^\d{1,13}(\.\d{1,6})?$/;
const CURRENCY = /^[A-Za-z]{3}$/;

function text(raw, max) {
  const value = raw.trim();
  if (!value) return { reason: "is empty" };
  if (CONTROL.test(value)) return { reason: "holds a control character" };
  if (value.length > max) return { reason: `is longer than ${max} characters` };
  return { value };
}

function price(raw) {
  const value = raw.trim();
  // Six decimals at most: the server takes 0 or a millionth and up, and no price needs less.
  if (!PRICE.test(value)) return { reason: "is not a number such as 599 or 89.90 (six decimals at most)" };
  const n = Number(value);
  if (n > LIMITS.price) return { reason: "is over 10^12" };
  return { value: n };
}

function currency(raw) {
  const value = raw.trim();
  return CURRENCY.test(value) ? { value: value.toUpperCase() } : { reason: "is not a three-letter currency code such as CNY" };
}

function httpsUrl(raw) {
  const value = raw.trim();
  if (value.length > LIMITS.url) return { reason: `is longer than ${LIMITS.url} characters` };
  let url;
  try {
    url = new URL(value);
  } catch {
    return { reason: "is not an address" };
  }
  // https only: the widget is served over https, and a card must not link a visitor to a page in the clear.
  if (url.protocol !== "https:" || /[\s<>"']/.test(value)) return { reason: "is not an https:// address" };
  return { value };
}

const FIELDS = [
  // [parameter, the card's field, check, names the product]
  ["product_id", "product_id", (raw) => text(raw, LIMITS.id), true],
  ["product_title", "title", (raw) => text(raw, LIMITS.title), true],
  ["product_price", "price", price, false],
  ["product_currency", "currency", currency, false],
  ["product_url", "url", httpsUrl, false],
  ["product_image", "image_url", httpsUrl, false],
];

/**
 * `{product, refused}`: the product card the page's address names (null when it names none) and the parameters
 * refused, each `{param, reason}`.
 */
export function productFromPage(search = location.search) {
  const params = new URLSearchParams(search);
  const card = {};
  const refused = [];
  let named = true;
  for (const [param, field, check, required] of FIELDS) {
    const raw = params.get(param);
    if (raw === null) {
      if (required) named = false;
      continue;
    }
    const checked = check(raw);
    if ("value" in checked) card[field] = checked.value;
    else {
      refused.push({ param, reason: checked.reason });
      if (required) named = false;
    }
  }
  if (!named && [...params.keys()].some((k) => k.startsWith("product_"))) {
    refused.push({ param: "product", reason: "needs both product_id and product_title: no card is offered" });
  }
  return { product: named ? card : null, refused };
}
