// Products: recommendations for the session's category, each sent as a product card in one click.

import { api } from "../auth.js";
import { $, h } from "../ui.js";
import { toast } from "./alerts.js";
import { sendOwn } from "./chat.js";
import { money, safeUrl, setText } from "./format.js";
import { currentSession, isOpen, state, subscribe } from "./store.js";
import { showTab } from "./tabs.js";
import { codeText, t } from "../i18n.js";

const productCache = new Map(); // category -> products

async function renderProducts() {
  const s = currentSession();
  const box = $("products");
  const note = $("products-for");
  if (!s) { box.replaceChildren(); setText(note, t("con.products.pick")); return; }
  const category = s.category || "";
  setText(note, category ? t("con.products.best_in", { category: codeText("category", category) }) : t("con.products.best"));
  let products = productCache.get(category);
  if (!products) {
    box.replaceChildren(h("p", { className: "muted", text: t("common.loading") }));
    try {
      const query = category ? `category=${encodeURIComponent(category)}&limit=4` : "limit=4";
      products = (await api(`/products/recommendations?${query}`)).products;
      productCache.set(category, products);
    } catch (err) {
      if (state.current !== s.session_id) return;
      box.replaceChildren(h("p", { className: "muted", text: err.status === 404 || err.status === 501
        ? t("con.products.not_set_up") : t("con.products.failed", { message: err.message }) }));
      return;
    }
  }
  if (state.current !== s.session_id) return;
  if (!products.length) { box.replaceChildren(h("p", { className: "muted", text: t("con.products.none") })); return; }
  box.replaceChildren(...products.map((p) => {
    const image = safeUrl(p.image_url);
    const link = safeUrl(p.url);
    return h("article", { className: "ac-product", dataset: { testid: "product", productId: p.product_id } },
      image ? h("img", { src: image, alt: "" }) : h("span", { className: "ac-product-thumb", text: (p.title || "?").charAt(0),
        dataset: { userContent: "" }, attrs: { "aria-hidden": "true" } }),
      h("div", { className: "ac-product-main" },
        h("strong", { text: p.title, dataset: { userContent: "" } }),
        h("span", { className: "muted", text: [money(p.price, p.currency), p.product_id].join(" · "), dataset: { userContent: "" } }),
        h("div", { className: "form-actions" },
          h("button", { type: "button", className: "small", text: t("con.products.send"), dataset: { testid: "product-send" },
            disabled: !isOpen(s), on: { click: () => sendProduct(p) } }),
          link ? h("a", { href: link, target: "_blank", rel: "noopener noreferrer", text: t("con.products.view") }) : null)));
  }));
}

function sendProduct(p) {
  const content = { product_id: p.product_id, title: p.title };
  if (typeof p.price === "number") content.price = p.price;
  if (p.currency) content.currency = p.currency;
  if (safeUrl(p.image_url)) content.image_url = p.image_url;
  if (safeUrl(p.url)) content.url = p.url;
  if (sendOwn("product", content)) toast(t("con.products.sent", { title: p.title }));
}

subscribe("tools", renderProducts);

// The composer's "Product card" opens this tab.
$("send-product").addEventListener("click", () => { showTab("products"); });
