"""Write the sample files that must not be UTF-8 (run once; the output is committed).

    .venv/bin/python corpora/make_binary_samples.py

Produces a GBK page and a Big5 page for ``docs-html/`` and the deliberately broken files in ``broken/``
(a binary ``.md``, an HTML file mixing UTF-8 and GBK with invalid bytes).
"""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent

GBK_PAGE = """<!DOCTYPE html>
<html>
<head>
<meta http-equiv="Content-Type" content="text/html; charset=gb2312">
<title>网点现金业务操作规程</title>
<script type="text/javascript">var menu = ["首页", "制度"];</script>
</head>
<body>
<div id="nav"><nav><a href="/">返回首页</a></nav></div>
<h1>网点现金业务操作规程</h1>
<p>为规范营业网点现金收付业务，防范操作风险，制定本规程。</p>
<h2>现金收款</h2>
<ol>
<li>柜员须当面点清现金，使用验钞机复点。</li>
<li>发现假币的，应当面收缴并加盖“假币”字样戳记，向客户出具收缴凭证。</li>
</ol>
<h2>尾箱管理</h2>
<table border="1">
<tr><th>项目</th><th>要求</th></tr>
<tr><td>尾箱限额</td><td>人民币20万元</td></tr>
<tr><td>日终入库</td><td>双人押送、双人签章</td></tr>
</table>
<footer>网点运营管理部 制</footer>
</body>
</html>
"""

BIG5_PAGE = """<!DOCTYPE html>
<html>
<head>
<title>保險箱租用服務說明</title>
<style>p { margin: 0 }</style>
</head>
<body>
<header><p>香港分行 內部文件</p></header>
<h1>保險箱租用服務說明</h1>
<p>本行於指定分行提供保險箱租用服務，客戶須持有本行綜合理財帳戶。</p>
<h2>租金及按金</h2>
<table>
<tr><th>尺寸</th><th>年租（港幣）</th><th>按金（港幣）</th></tr>
<tr><td>小型</td><td>1,200</td><td>3,000</td></tr>
<tr><td>中型</td><td>2,400</td><td>5,000</td></tr>
</table>
<h2>注意事項</h2>
<ul>
<li>遺失鎖匙須即時通知分行，換鎖費用由租用人承擔。</li>
<li>嚴禁存放易燃、易爆或違禁物品。</li>
</ul>
<footer>版權所有 不得轉載</footer>
</body>
</html>
"""

# Half UTF-8, half GBK, plus bytes that are invalid in every candidate encoding (0xFF, a lone 0x80).
MIXED_HTML = (
    "<html><head><title>混合编码</title></head><body><p>这一段是 UTF-8。</p>".encode()
    + "<p>这一段是 GBK 编码。</p>".encode("gbk")
    + b"<p>\xff\xfe\x80\xff</p></body></html>"
)

# A PNG header and random-looking bytes, saved with a .md extension as users sometimes do.
BINARY_MD = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10\x00\x00\x00\x10\x08\x06\x00\x00\x00"
    + bytes(range(256))
)


def main() -> None:
    """Write every generated sample file."""
    (HERE / "docs-html" / "cash-operations-gbk.html").write_bytes(GBK_PAGE.encode("gbk"))
    (HERE / "docs-html" / "safe-deposit-big5.html").write_bytes(BIG5_PAGE.encode("big5"))
    broken = HERE / "broken"
    broken.mkdir(exist_ok=True)
    (broken / "mixed-encoding.html").write_bytes(MIXED_HTML)
    (broken / "screenshot.md").write_bytes(BINARY_MD)


if __name__ == "__main__":
    main()
