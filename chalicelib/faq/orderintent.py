"""Is a visitor's message a question about one of its own orders, and which number does it give?

Order questions are the commonest a shop gets, and the FAQ cannot answer them: "where is SO-88121?" needs that
order's tracking, not the FAQ on how tracking works. This module only reads text (no I/O, microseconds a message):

- the text is folded first: full-width forms to ASCII (NFKC), lower case, common Chinese typos of the words that
  matter (定单 -> 订单, 物留 -> 物流, 快第 -> 快递...), and each English word of four letters or more that is not a
  cue word but lies one edit (two from eight letters) from one is read as that cue word ("wher is my oder",
  "trackng", "cancle", "refnud");
- an order number is the shop's prefix with any separator, case or width (``SO-88121``, ``so 88121``,
  full-width ``SO-88121``), or 4 to 12 digits right after "order", "order number", "#" or 订单(号)/单号;
- the intent is the first of cancel, return (returns and refunds), invoice, where (logistics), delivery_time and
  status whose cue words the text has, in English or Chinese;
- it is an order question when the text gives a number, or names the visitor's own order ("my order", "I ordered",
  我的订单, 我买的) or a complaint that can only be about one ("hasn't arrived", 还没到, 没收到货) together with an
  intent. A how-to or policy question ("how do I cancel an order", "what is your return policy", 如何退货,
  退货政策) is the FAQ's unless it gives a number or such a complaint; and a question whose subject is something
  else the FAQ answers (coupons, points, password, sizes...) stays the FAQ's unless it also gives a number and an
  order intent. "How do I use a coupon on my order" therefore reaches the coupon FAQ.

Measured on ``tests/data/order_phrasings.jsonl`` and the demo knowledge base's questions: docs/faq-matching.md,
"Order questions".
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from chalicelib.faq.spelling import lexicon

INTENTS = ("cancel", "return", "invoice", "where", "delivery_time", "status")
DEFAULT_PREFIX = "SO-"

# Chinese typos and variants of the words the cues below are written with (homophones an IME offers first).
_ZH_FOLDS = (("定单", "订单"), ("訂單", "订单"), ("物留", "物流"), ("快第", "快递"), ("快地", "快递"),
             ("发漂", "发票"), ("发飘", "发票"), ("退宽", "退款"), ("退欵", "退款"), ("收到获", "收到货"),
             ("取销", "取消"), ("包囊", "包裹"), ("单好", "单号"), ("到那", "到哪"), ("在那", "在哪"),
             ("啥时侯", "啥时候"), ("什么时侯", "什么时候"), ("时后", "时候"))

# The English words the cues are made of: a word near one of them (and not one of them, nor short) is read as it.
_CUE_WORDS = ("order", "orders", "ordered", "package", "parcel", "shipment", "delivery", "delivered", "deliver",
              "arrive", "arrived", "arriving", "track", "tracking", "status", "cancel", "cancelled", "canceled",
              "cancellation", "return", "returned", "refund", "refunded", "invoice", "fapiao", "receipt",
              "where", "received", "receive", "shipped", "shipping", "logistics", "courier", "still", "update",
              "bought", "purchase", "money", "coupon", "password", "points", "exchange", "yet")
_SHORT_FIXES = {"oder": "order", "ordr": "order", "odrer": "order", "orer": "order", "wher": "where",
                "whre": "where", "wheres": "where's", "whats": "what's", "pkg": "package", "pakage": "package",
                "packge": "package", "recieve": "receive", "recieved": "received", "reciept": "receipt",
                "cancle": "cancel", "cancl": "cancel", "refnd": "refund", "trak": "track", "invoce": "invoice",
                "u": "you", "ur": "your", "my": "my", "r": "are", "wat": "what", "wen": "when", "wut": "what",
                "hasnt": "hasn't", "havent": "haven't", "didnt": "didn't", "isnt": "isn't", "wont": "won't",
                "cant": "can't", "dont": "don't", "doesnt": "doesn't"}

_W = r"(?<![a-z0-9])"  # an English cue starts a word
_CUES: dict[str, tuple[str, ...]] = {
    "cancel": (_W + r"cancel", _W + r"call off", _W + r"don'?t want (it|this|my|the) ?(order|anymore|any more)?",
               _W + r"stop (my|the) order", "取消", "不要了", "不想要了", "撤销订单", "撤单", "退订"),
    "return": (_W + r"return", _W + r"refund", _W + r"send\b.{0,24}\bback\b", _W + r"money back",
               _W + r"exchange", "退货", "退款", "退钱", "换货", "退回", "退掉", "售后", "退了", "退单", "申请退",
               "想退", "要退"),
    "invoice": (_W + r"invoice", _W + r"fapiao", _W + r"receipt", _W + r"vat (bill|slip)", "发票", "开票",
                "收据", "报销"),
    "where": (_W + r"where('?s| is| are|'re| r)", _W + r"track", _W + r"logistic", _W + r"courier status",
              _W + r"shipping (info|status|update)", _W + r"(not|never|still not|yet to|hasn'?t|haven'?t|didn'?t|"
              r"did not|has not|have not|not yet) (been )?(arrive|come|receive|got|get|show|turn)",
              _W + r"where (it|they) (is|are)", _W + r"where\b.{0,30}\b(is|are)\b", _W + r"nowhere to be",
              _W + r"stuck", _W + r"locat(ion|e)",
              _W + r"lost", _W + r"(has|did|is) (it|my \w+|the \w+|this \w+)( \w+)? (ship|dispatch|sent)",
              _W + r"(ship|dispatch|sent|send)(ped|ed)? (out )?yet", _W + r"still (waiting|not here|hasn'?t)",
              "到哪", "在哪", "物流", "查(一?下)?(我的)?(快递|包裹|件)", "快递单号", "运单", "查件", "没收到",
              "还没到", "没到", "没送到", "不动", "查.{0,12}(快递|物流|包裹)",
              "怎么还没", "跟踪", "走到哪", "到哪儿", "什么位置", "发货了吗", "发货没", "发了吗", "发了没",
              "还不发货", "丢件", "丢了"),
    "delivery_time": (_W + r"when (will|would|does|do|can|is|should)", _W + r"how (long|soon|many days) "
                      r"(until|till|before|for|will|'?til)", _W + r"eta", _W + r"deliver(y date|ed by)",
                      _W + r"expect", _W + r"when(?![a-z])", "什么时候到", "几天(能)?到", "多久(能)?到", "啥时候到",
                      "什么时候能到", "何时到", "预计", "送达", "什么时候送", "什么时候发", "啥时候发", "多久能到",
                      "几号(能)?(送)?到", "哪天(能)?到"),
    "status": (_W + r"status", _W + r"what'?s (happening|going on|up) with", _W + r"update on", _W + r"check (on )?"
               r"(my|the|an|this|order)", _W + r"look up", _W + r"lookup", _W + r"progress", _W + r"any news",
               _W + r"details? (of|for|on) (my|the|this) order", _W + r"order (info|details?)", "状态", "进度",
               "查订单", "查一下", "查查", "查询", "怎么样了", "什么情况", "处理了吗", "帮我看", "看一?下"),
}
_CUE_RES = {intent: re.compile("|".join(f"(?:{c})" for c in cues)) for intent, cues in _CUES.items()}

# The visitor's own order, named.
_MINE = re.compile(
    _W + r"(my|our|mine)( \w+)?( \w+)? (order|package|parcel|pkg|shipment|delivery|purchase|stuff|item|items|things|"
    r"goods|refund|return|invoice|fapiao|receipt|shoes|headphones|box)" + "|"
    + _W + r"(i|we) (just )?(ordered|bought|purchased|paid for|placed)" + "|" + _W + r"order (number|no\.?|id|#)"
    + "|" + _W + r"(the|this|that) order( i| we)" + "|" + _W + r"i (still )?(have not|haven'?t|didn'?t|did not|"
    r"never) (get|got|receive)" + "|"
    + r"我的(订单|快递|包裹|货|东西|单|退款|发票|衣服|鞋|耳机)|我(刚|昨天|前天|上周|之前)?(买|下|拍|订)的|我(下|拍)了|"
      r"我那个|我这个|我这单|我的单子|订单号|单号|这个订单|这单|那个订单|这笔订单|我买了|我订了|帮我|给我|我拍错|"
      r"我(要|想)(退|取消|换|开)|(查|看)(一下|下)?(我的)?订单|我的\s*(package|parcel|order|stuff)")
# A complaint that can only be about an order of the visitor's.
_STRONG = re.compile(
    _W + r"(where('?s| is| are) (my|our) )" + "|"
    + _W + r"(hasn'?t|haven'?t|has not|have not|didn'?t|did not|never|still not|not yet) (been )?"
    r"(arrived?|come|came|shipped|delivered|showed up|turned up)" + "|"
    + _W + r"(hasn'?t|haven'?t|has not|have not|didn'?t|did not|never|still not|not yet) (yet )?"
    r"(received?|got|gotten|get) (it|them|my (order|package|parcel|stuff|items?|goods|delivery|shoes|headphones))"
    + "|"
    + _W + r"still (waiting|not here)" + "|"
    + "到哪了|到哪里了|到哪儿了|还没到|没收到|还没收到|怎么还没|还不发货|怎么还不|到底什么时候|查一下我的|帮我查")
# How-to and policy questions: the FAQ answers those. A question opening with "does", "will", "can"... asks how
# things work ("will bad weather delay my delivery?"); "did", "has", "is" ask about one order and stay order questions.
_HOWTO = re.compile(
    r"(^|[.?!] )(does|do|will|should|would|can(?! (you|u|i (get|have))\b)) |" + _W + r"if |"
    + _W + r"(how (do|can|should|would) (i|you|we|one)|how to|is it possible|what('?s| is| are) your|"
    r"what happens|do you|(?<!when )can i(?! (get|have|please))|can (a|an|the|someone|my company)|"
    r"where (do|can|should|will|does) |what (should|do) i do|what now|what (vat|tax|rate|types?|kinds?)|"
    r"will i be|how will i|is that allowed|is it used|policy|policies|rules?|usually|normally|in general|generally|"
    r"how long does|how long do|how many days does|which|is there|are there|what if|why)" + "|"
    + r"如何|怎样|怎么(申请|操作|办理|开|退|取消|用|使用|弄|才能|样才|查)|政策|规则|流程|规定|一般|通常|需要多久|"
      r"能不能开|"
      r"可以开|支持|有没有")
# Subjects the FAQ answers even when the question mentions an order: those of _HARD_TOPIC always (without a number),
# the others unless the visitor asks to cancel, return or get an invoice ("wrong address, cancel my order").
_HARD_TOPIC = re.compile(_W + r"(coupon|voucher|promo code|points|membership|password|log ?in|login|sms|code)|"
                         r"优惠券|券|积分|会员|密码|登录|验证码")
_OTHER_TOPIC = re.compile(
    _W + r"(coupon|voucher|promo code|discount|points|membership|member|password|log ?in|account|"
    r"(?<!wrong )(size|sizing|colour|color)|address|phone number|gift card|warranty|authentic|fake|price match|"
    r"installment|huabei|"
    r"payment method|pay with|alipay|wechat pay|review)" + "|"
    + r"优惠券|优惠|券|积分|会员|密码|登录|账号|尺码(?!不对|不合适|错)|尺寸|颜色|地址|手机号|礼品卡|保修|正品|假货|"
      r"价保|分期|花呗|支付方式|评价")

_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")
_ORDER_WORDS = re.compile(_W + r"(order|package|parcel|shipment|delivery)|订单|快递|包裹|物流|发票|货")
_DIGITS_AFTER = re.compile(r"(?:" + _W + r"order(?: (?:number|no\.?|id|num))?|#|订单号?|单号|编号)\s*[:#]?\s*"
                           r"(?:is\s+|是\s*)?(\d{4,12})(?!\d)|(?<!\d)(\d{4,12})\s*(?:这个|这一?)?(?:单号|号?订单)")


_FILLER = re.compile(_W + r"(please|pls|plz|hi|hello|hey|ok|the|an?|about|status|info|check)(?![a-z])|请问|你好|"
                     r"一下|呢|吗|啊|呀|吧|查询?|[\s\W_]")


def _bare(folded: str) -> bool:
    """The text names the visitor's order and nothing else ("my order?", "我的订单呢")."""
    return not _FILLER.sub("", _MINE.sub("", folded))


@dataclass(frozen=True)
class OrderQuestion:
    """An order question: what the visitor wants (one of :data:`INTENTS`) and the order number it gave, if any
    (as the shop writes it: the prefix, then the digits)."""

    intent: str
    order_id: str | None = None


def fold(text: str) -> str:
    """The text as the cues read it: NFKC, lower case, Chinese typos and English near-misses of cue words
    corrected, whitespace squeezed."""
    out = unicodedata.normalize("NFKC", text).lower().replace("\u2019", "'")
    for typo, word in _ZH_FOLDS:
        out = out.replace(typo, word)
    out = _WORD.sub(lambda m: _correct(m.group(0)), out)
    return " ".join(out.split())


@lru_cache(maxsize=4096)
def _correct(word: str) -> str:
    if word in _SHORT_FIXES:
        return _SHORT_FIXES[word]
    if len(word) < 4 or word in _CUE_WORDS or word in lexicon():
        return word  # short words are chat shorthand, and a real word ("here", "were") is no typo
    reach = 1 if len(word) < 8 else 2
    best = None
    for cue in _CUE_WORDS:
        if abs(len(cue) - len(word)) <= reach and _distance(word, cue, reach) <= reach:
            best = cue
            break
    return best or word


def _distance(a: str, b: str, cap: int) -> int:
    """Edit distance with a swap of neighbours as one edit (optimal string alignment), stopping past ``cap``."""
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        row = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = a[i - 1] != b[j - 1]
            row[j] = min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                row[j] = min(row[j], prev2[j - 2] + 1)
        if min(row) > cap:
            return cap + 1
        prev2, prev = prev, row
    return prev[-1]


@lru_cache(maxsize=16)
def _number_re(prefix: str) -> re.Pattern[str]:
    letters = re.sub(r"[^a-z0-9]", "", prefix.lower())
    return re.compile(rf"(?<![a-z0-9]){re.escape(letters)}[\s\-_#.:]*(\d{{4,12}})(?!\d)")


def order_number(text: str, prefix: str = DEFAULT_PREFIX) -> tuple[str, tuple[int, int]] | None:
    """The order number ``text`` gives, as the shop writes it (``SO-88121``), and where it stands in the folded
    text; None when it gives none."""
    folded = unicodedata.normalize("NFKC", text).lower()
    found = _number_re(prefix).search(folded) or _DIGITS_AFTER.search(folded)
    if found is None:
        return None
    return prefix.upper() + (found.group(1) or found.group(2)), found.span()


def recognise(text: str, prefix: str = DEFAULT_PREFIX) -> OrderQuestion | None:
    """The order question ``text`` asks, or None when it is not one (the FAQ's, or small talk)."""
    if len(text) > 1000:
        return None  # a pasted page is no order question; bounded work per message
    folded = fold(text)
    number = order_number(text, prefix)
    intent = next((name for name in INTENTS if _CUE_RES[name].search(folded)), None)
    howto = _HOWTO.search(folded) is not None
    if number is not None:
        if _OTHER_TOPIC.search(folded) and intent is None:
            return None
        return OrderQuestion(intent or "status", number[0])
    strong = _STRONG.search(folded) is not None
    mine = strong or _MINE.search(folded) is not None
    if _HARD_TOPIC.search(folded) or (_OTHER_TOPIC.search(folded)
                                      and (howto or intent not in ("cancel", "return", "invoice"))):
        return None
    if intent is None:
        # "my order?", "我的订单", "my parcel": the order itself, so its status; a longer sentence naming an order
        # without a cue asks something else about it ("is my parcel insured?"), the FAQ's.
        if mine and _ORDER_WORDS.search(folded) and not howto and _bare(folded):
            return OrderQuestion("status")
        return None
    if not mine:
        return None
    if howto and not strong:
        return None
    return OrderQuestion(intent)
