// Products: recommendations for the session's category, each sent as a product card in one click.

import { api } from "../auth.js";
import { $, h } from "../ui.js";
import { toast } from "./alerts.js";
import { sendOwn } from "./chat.js";
import { money, safeUrl, setText } from "./format.js";
import { currentSession, isOpen, state, subscribe } from "./store.js";
import { showTab } from "./tabs.js";

const productCache = new Map(); // category -> products

async function renderProducts() {
  const s = currentSession();
  const box = $("products");
  const note = $("products-for");
  if (!s) { box.replaceChildren(); setText(note, "Pick a conversation to see products for it."); return; }
  const category = s.category || "";
  setText(note, category ? `Best sellers in “${category}”` : "Best sellers of the shop");
  let products = productCache.get(category);
  if (!products) {
    box.replaceChildren(h("p", { className: "muted", text: "Loading…" }));
    try {
      const query = category ? `category=${encodeURIComponent(category)}&limit=4` : "limit=4";
      products = (await api(`/products/recommendations?${query}`)).products;
      productCache.set(category, products);
    } catch (err) {
      if (state.current !== s.session_id) return;
      box.replaceChildren(h("p", { className: "muted", text: err.status === 404 || err.status === 501
        ? "Product recommendations are not set up for this shop." : `Could not load products: ${err.message}` }));
      return;
    }
  }
  if (state.current !== s.session_id) return;
  if (!products.length) { box.replaceChildren(h("p", { className: "muted", text: "No products to recommend." })); return; }
  box.replaceChildren(...products.map((p) => {
    const image = safeUrl(p.image_url);
    const link = safeUrl(p.url);
    return h("article", { className: "ac-product", dataset: { testid: "product", productId: p.product_id } },
      image ? h("img", { src: image, alt: "" }) : h("span", { className: "ac-product-thumb", text: (p.title || "?").charAt(0),
        attrs: { "aria-hidden": "true" } }),
      h("div", { className: "ac-product-main" },
        h("strong", { text: p.title }),
        h("span", { className: "muted", text: [money(p.price, p.currency), p.product_id].join(" · ") }),
        h("div", { className: "form-actions" },
          h("button", { type: "button", className: "small", text: "Send", dataset: { testid: "product-send" },
            disabled: !isOpen(s), on: { click: () => sendProduct(p) } }),
          link ? h("a", { href: link, target: "_blank", rel: "noopener noreferrer", text: "View" }) : null)));
  }));
}

function sendProduct(p) {
  const content = { product_id: p.product_id, title: p.title };
  if (typeof p.price === "number") content.price = p.price;
  if (p.currency) content.currency = p.currency;
  if (safeUrl(p.image_url)) content.image_url = p.image_url;
  if (safeUrl(p.url)) content.url = p.url;
  if (sendOwn("product", content)) toast(`${p.title} sent to the chat.`);
}

subscribe("tools", renderProducts);

// The composer's "Product card" opens this tab.
$("send-product").addEventListener("click", () => { showTab("products"); });
