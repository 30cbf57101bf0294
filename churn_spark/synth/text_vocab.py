"""The curated Chinese vocabulary of the call-center email generator (data only, no logic).

Everything here is Simplified Chinese; Traditional forms are derived once per process with
OpenCC (see ``text.py``). Blocks of text are one item per line so that a newcomer can add a
sentence or a word without touching code.

Clause templates use these slots (the generator fills them):

=============  ===================================================================
``{w}``        a domain word of the clause's topic (``TopicText.words``, Zipf by rank)
``{n}``        background noun from jieba's ``dict.txt`` (also ``{v}``, ``{a}``, ``{d}``)
``{paper}``    the publisher's name as customers write it
``{num}``      a small count; ``{days}`` a duration; ``{date}`` a day; ``{month}`` a month
``{money}``    an amount of money; ``{company}`` a company name; ``{bank}`` a bank
``{phone}``    personal data the masking stage must remove: ``{phone}``, ``{landline}``,
               ``{email}``, ``{idcard}``, ``{bankcard}``, ``{address}``, ``{url}``
=============  ===================================================================

A clause carries no final punctuation; the generator joins clauses with commas into
sentences. Domain words are written ``word/pos`` (jieba POS: n, v, vn, a, d); they go to
``conf/dict/user_dict.txt`` so that jieba keeps them as one token.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TopicText:
    """One topic's text: domain words (most typical first), clause templates, subject lines."""

    words: str
    clauses: str
    subjects: str


def lines(block: str) -> tuple[str, ...]:
    """The non-empty, stripped lines of a text block, in order."""
    return tuple(line.strip() for line in block.strip().splitlines() if line.strip())


PUBLISHER = "明河日报"
# How customers name the paper in running text ({paper}); all map to nothing in the
# pipeline: the names are in exclusions.txt.
PAPER_NAMES = lines("""
明河日报
《明河日报》
明河报
贵报
你们报社
你们的报纸
""")

# Words every topic shares (subscription vocabulary); in the user dictionary, not a topic.
GENERAL_WORDS = """
报纸/n 订阅/v 订户/n 读者/n 报社/n 订报/v 订单/n 服务/vn 问题/n 情况/n 电话/n
订阅期/n 纸质版/n 工作人员/n 处理/v 解决/v 反映/v 希望/v 尽快/d
"""

# Clause templates shared by every topic: {w} is a word of the clause's topic.
TOPIC_GENERIC_CLAUSES = """
关于{w}的事情想咨询一下
{w}这个问题{d}困扰我很久了
上次说的{w}到现在还没有结果
另外还有{w}的事
你们在{w}方面能不能改进一下
{w}的问题希望能尽快解决
我想了解一下{w}
{w}到底是怎么回事
"""

# Topics whose words are mostly adjectives: the shared "{w}" clauses would read badly.
NO_GENERIC_CLAUSES = ("praise",)

TOPIC_TEXTS: dict[str, TopicText] = {
    "delivery": TopicText(
        words="""
投递/vn 投递员/n 送报/v 报箱/n 漏送/v 缺报/n 补送/v 送达/v 投递时间/n 派送/v 送错/v
淋湿/v 发行站/n 投递站/n 收发室/n 传达室/n 门卫/n 楼道/n 准时/a 丢报/v 漏投/v 迟送/v
""",
        clauses="""
这{days}的报纸一直没有收到
今天早上报纸又没送到
报箱里经常是空的
投递员总是把报纸扔在楼道里
最近投递时间越来越晚了
以前七点前就能送到，现在常常要到十点以后
上班前根本看不到当天的报纸
{date}的报纸漏送了，请尽快补送
这已经是第{num}次缺报了
下雨天报纸被淋湿了，根本没法看
报纸经常被送错，送到隔壁单元去了
门卫说没见到投递员来过
我们单位收发室说没有收到{paper}
希望你们跟发行站反映一下
能不能请投递员把报纸放进报箱里
这个月有{num}天没有送报
漏送的那几天能不能补送
报纸塞在门缝里，好几次都弄破了
有时候一次送来两天的报纸
投递员换人以后就一直不准时
邻居家的报纸都到了，就我家的没到
我{d}在楼下等报纸，等到中午也没等到
周末的报纸基本上都收不到
打电话到投递站也没人接
请按时送达，这是最基本的要求
报纸总是被人从报箱里拿走，能不能交给传达室
派送的时间能不能固定一下
""",
        subjects="""
报纸没有送到
投递问题
又漏送了
关于送报时间
这几天缺报
投递员的问题
""",
    ),
    "billing": TopicText(
        words="""
账单/n 扣款/vn 扣费/vn 多扣/v 重复扣款/vn 收费/vn 费用/n 金额/n 退款/vn 退还/v 对账单/n
明细/n 银行卡/n 欠费/vn 催缴/v 付款/vn 余额/n 差额/n 收据/n 订阅费/n 滞纳金/n 错账/n 到账/v
""",
        clauses="""
这个月的账单金额不对
我的银行卡被重复扣款了
账单上多了一笔{money}的费用
我明明已经付款了，怎么还收到催缴通知
请把多扣的{money}退还给我
上个月扣款{money}，可是我订的是半年的
能不能寄一份收费明细给我
我不明白这笔费用是怎么算出来的
扣款失败了，可是我卡里的余额是够的
你们的账单写得太复杂，我{d}看不懂
我要求退款，请尽快处理
麻烦核对一下我的账户
为什么会有滞纳金，我从来没有欠费
收据上的金额和实际扣款对不上
订阅费已经付过了，请不要再扣了
账单上的订阅期也写错了
差额{money}什么时候能退到我卡里
同一笔订阅费扣了两次
已经{days}了，退款还没有到账
扣款前没有任何通知
我需要一份{month}的对账单
你们的收费标准是不是改了
这笔错账请尽快更正
""",
        subjects="""
账单有误
重复扣款
关于收费的疑问
请退还多扣的钱
扣费问题
对账单
""",
    ),
    "invoice": TopicText(
        words="""
发票/n 开票/v 增值税/n 普通发票/n 专用发票/n 抬头/n 税号/n 报销/v 补开/v 重开/v
电子发票/n 开具/v 纳税人/n 识别号/n 财务/n 单位/n 邮寄/v 作废/v 红字发票/n 开票信息/n
""",
        clauses="""
请帮我开一张{money}的发票
发票抬头写错了，需要重开
我们单位报销需要增值税发票
发票上的税号少了一位
能不能开具专用发票
去年的发票一直没有收到
请把发票邮寄到我单位
发票抬头是{company}
财务说这张发票不能报销
我需要补开{month}的发票
发票金额和实际的订阅费不一致
电子发票在哪里可以下载
能不能把两张发票合成一张开
纳税人识别号我上次已经发给你们了
开票信息如下
原来的发票丢了，能不能补开一张
麻烦尽快开票，月底之前要报销
上次寄来的发票还是旧的抬头
那张发票请作废，重新开具
""",
        subjects="""
发票
申请开发票
发票抬头有误
补开发票
关于增值税发票
报销用的发票
""",
    ),
    "suspension": TopicText(
        words="""
暂停/v 暂停投递/v 恢复投递/v 度假/v 出差/v 出国/v 顺延/v 停报期/n 假期/n 暑假/n
春节/t 国庆/t 延长/v 恢复/v 期间/n 外地/n 补偿/vn 回来/v 探亲/v 旅游/vn
""",
        clauses="""
我{date}开始要去外地出差
我们全家暑假要出去旅游，想暂停投递两周
春节期间请暂停投递
{date}回来以后请恢复投递
停报期的那几天能不能顺延
出国探亲{days}，这段时间不用送了
上次申请暂停投递，结果报纸照样送来了
恢复投递的日子往后推{days}
度假回来发现报箱里塞满了报纸
暂停的这段时间订阅期能不能延长
国庆放假期间家里没人
请确认一下暂停有没有办好
我的假期延长了，恢复的时间也要改一下
暂停投递需要提前几天通知
老人住院了，想先暂停一个月
停报期间的订阅费怎么补偿
""",
        subjects="""
申请暂停投递
度假停报
恢复投递
暂停送报
出差期间停送
关于假期暂停
""",
    ),
    "address_change": TopicText(
        words="""
地址/n 新地址/n 地址变更/vn 搬家/v 搬迁/v 门牌号/n 小区/n 单元/n 邮编/n 收件人/n
住址/n 投递地址/n 老地址/n 变更/v 更改/v 联系方式/n 楼号/n 单位地址/n
""",
        clauses="""
我下个月要搬家了，请把投递地址改一下
新地址是{address}
从{date}起请送到新地址
我们单位搬迁了，新的地址是{address}
门牌号写错了，应该是28号不是23号
收件人改成我爱人的名字
邮编也要改一下
上次说已经改好了，结果报纸还是送到老地址
老房子那边已经没人住了
更改地址需要办什么手续
我的联系方式也变了，新手机是{phone}
请确认一下地址变更有没有成功
搬家以后一直没有收到报纸
小区的名字改了，但是住址没变
请在系统里把我的住址更新一下
能不能送到我的单位地址，家里白天没人
楼号和单元都写错了
""",
        subjects="""
地址变更
更改投递地址
搬家了
新地址
请修改地址
地址有误
""",
    ),
    "renewal_price": TopicText(
        words="""
续订/v 续费/vn 价格/n 涨价/v 到期/v 优惠价/n 原价/n 折扣/n 年费/n 全年/t 半年/t
老订户/n 续订单/n 零售价/n 报价/n 便宜/a 划算/a 订价/n 提前续订/v 续订通知/n
""",
        clauses="""
我的订阅下个月就到期了
续订一年要多少钱
为什么今年的价格比去年贵了{money}
老订户续订有没有优惠价
明年还会不会涨价
续订通知上的价格和你们广告上的不一样
全年订阅比零售价便宜多少
我想先续订半年看看
你们这次涨价太多了
{money}一年实在是有点贵
别的报纸续订都有折扣
如果价格合适我还会继续订
请把续订单寄给我
订了{num}年了，每年都在涨价
到期以后还能按原价续订吗
能不能给老订户一个优惠价
提前续订是不是更划算
现在续费还来得及吗
年费能不能分两次付
""",
        subjects="""
续订咨询
关于价格
为什么涨价
订阅即将到期
续费
老订户优惠
""",
    ),
    "cancellation": TopicText(
        words="""
退订/v 取消/v 不再/d 停止/v 终止/v 退钱/v 剩余/v 违约金/n 合同/n 不续订/v
注销/v 失望/a 别家/r 改订/v 退回/v 订不下去/v
""",
        clauses="""
我决定不再续订了
请帮我办理退订
到期以后就不要再送了
剩余几个月的订阅费请退给我
我要取消订阅，请告诉我怎么办
以后不想再订{paper}了
实在太失望了，明年不订了
退订需要交违约金吗
合同到期就终止吧
家里老人去世了，报纸没人看了，请停止投递
我们单位明年不订了，改订别家的报纸
请不要再打电话给我推销续订
我已经说过好几次要退订了
请注销我的订户信息
这样的服务我实在订不下去了
剩余的钱怎么退回
如果问题再不解决我就退订
""",
        subjects="""
退订
取消订阅
我要退订
不再续订
申请退订
停止订阅
""",
    ),
    "content": TopicText(
        words="""
版面/n 内容/n 文章/n 报道/n 新闻/n 副刊/n 专栏/n 记者/n 编辑/n 广告/n 印刷/vn
字体/n 错别字/n 社论/n 体育版/n 财经版/n 周末版/n 彩版/n 改版/v 篇幅/n 编辑部/n 读者来信/n
""",
        clauses="""
改版以后的版面太乱了
广告比新闻还多
字体太小了，老年人看不清楚
体育版的篇幅越来越少了
{date}那篇关于{n}的报道写得不太客观
希望多登一些本地新闻
副刊的内容越来越没意思了
印刷质量很差，看完手上全是油墨
报纸上的错别字太多了
财经版的数据有错误
你们的记者有没有去现场核实
能不能恢复以前的专栏
周末版的彩版很好看
有些文章太长了，看不下去
报道里提到的{n}问题我{d}很关心
请转告编辑部
社论的观点我不能同意
读者来信的版面可以再多一点
最近的新闻都是转载的
""",
        subjects="""
对版面的意见
关于一篇报道
内容建议
改版以后
给编辑部的建议
报道有误
""",
    ),
    "digital_login": TopicText(
        words="""
电子版/n 登录/v 密码/n 账号/n 网站/n 网页/n 注册/v 用户名/n 验证码/n 客户端/n
下载/v 浏览器/n 在线/vn 闪退/v 找回/v 重置/v 激活/v 绑定/v 链接/n 页面/n 手机版/n
""",
        clauses="""
电子版一直登录不上
输入密码以后页面就没反应了
我忘记密码了，怎么找回
注册的时候收不到验证码
网站上的PDF下载不了
用iPad看电子版的时候字太小
app一打开就闪退
用IE浏览器看网页排版是乱的
我的账号被锁住了
订了纸质版是不是可以免费看电子版
登录的时候提示用户名不存在
请帮我重置一下密码
激活链接点了没有用，网址是{url}
我的email收不到你们发的激活邮件
电子版的更新比纸质版还慢
手机版的页面总是打不开
能不能绑定两个账号，家里人也想看
在线阅读的时候经常卡住
换了电脑以后就登录不了了
log in不进去，一直显示password错误
客户端下载以后装不上
""",
        subjects="""
电子版登录不了
忘记密码
电子版的问题
账号被锁
app打不开
PDF下载失败
""",
    ),
    "praise": TopicText(
        words="""
感谢/v 满意/a 表扬/v 认真/a 负责/a 及时/a 热情/a 周到/a 辛苦/a 耐心/a 专业/a
好评/n 称赞/v 敬业/a 贴心/a 喜欢/v 支持/v 服务态度/n
""",
        clauses="""
你们的投递员非常认真负责
每天早上都能准时看到报纸
客服的态度很好，问题解决得很及时
我订了{num}年了，一直很满意
想表扬一下送报的师傅
不管刮风下雨都是准时送到
谢谢你们这么多年的服务
你们的服务越来越周到了
上次的问题处理得非常及时，很满意
这份报纸是我每天早上必看的
希望你们继续保持
我会推荐朋友也来订
编辑们辛苦了
你们的工作人员非常耐心
特别喜欢周末版
祝{paper}越办越好
服务态度真的很专业
""",
        subjects="""
表扬信
感谢
谢谢你们
表扬投递员
很满意
好评
""",
    ),
    "promotion": TopicText(
        words="""
活动/n 优惠/vn 赠品/n 赠送/v 抽奖/v 积分/n 兑换/v 推荐/v 套餐/n 免费/vn 试读/v
打折/v 返现/v 购物卡/n 礼券/n 团购/v 宣传单/n 促销/vn 中奖/v 试订/v
""",
        clauses="""
你们的宣传单上说订报送赠品
订一年送的赠品到现在还没收到
我推荐了{num}个朋友订报，积分什么时候能兑换
活动期间订阅是不是可以打折
我参加了抽奖，听说中奖了
赠送的购物卡怎么用
试读期结束以后会自动扣费吗
这次促销活动到什么时候结束
我想了解一下全家套餐
能不能免费试订{days}
赠品和广告上说的不一样
礼券过期了，能不能延期
团购有没有优惠
积分能不能换成订阅期
返现的钱一直没收到
""",
        subjects="""
关于优惠活动
赠品没收到
积分兑换
促销活动咨询
抽奖
试订
""",
    ),
    "payment_method": TopicText(
        words="""
付款方式/n 银行/n 转账/vn 汇款/vn 支付/vn 自动扣款/vn 现金/n 信用卡/n 账户/n
开户行/n 网上银行/n 支付宝/n 授权/vn 代扣协议/n 户名/n 一次性/d 付清/v
""",
        clauses="""
我想把付款方式改成银行转账
能不能用信用卡付款
代扣协议怎么取消
以后改成每年一次性付清
我换了一张银行卡，卡号是{bankcard}
原来的账户已经注销了
网上银行付款的时候一直提示失败
邮局汇款要多久才能到账
能不能用支付宝支付订阅费
开户行是{bank}，户名是我本人
现金交给投递员可以吗
请把自动扣款停掉，我自己去交
授权书已经寄回去了
月付和年付哪个更划算
""",
        subjects="""
更改付款方式
关于自动扣款
银行转账
付款问题
代扣协议
""",
    ),
    "customer_service": TopicText(
        words="""
投诉/vn 热线/n 打不通/v 占线/v 回复/v 答复/vn 态度/n 负责人/n 经理/n 回电/v
效率/n 敷衍/v 转接/v 推诿/v 消协/n 解释/vn
""",
        clauses="""
热线一直打不通
打了{num}次电话都是占线
上次投诉到现在都没有人回复
你们的工作人员态度很差
每次打电话都说会处理，结果什么都没变
请你们负责人给我回个电话
问题反映了{days}还是没有解决
电话转接来转接去，最后也没人负责
希望这次能认真对待
请在{days}之内给我一个答复
再这样我就向消协投诉了
发了好几封邮件都没有回复
你们的处理效率太低了
客服说会给我回电，一直没等到
接电话的人只会敷衍
请给我一个合理的解释
""",
        subjects="""
投诉
热线打不通
没有人回复
对服务的投诉
请经理回电
""",
    ),
}

# Topic-neutral clauses: the background vocabulary enters the mail here.
GENERAL_CLAUSES = """
我是你们的老订户了
我订{paper}已经{num}年了
我家{d}只订你们这一份报纸
说实话我对{n}一直很{a}
最近{n}方面的事情比较多
这件事{d}影响到我的{n}
我们{n}的人{d}在{v}这个问题
我平时{d}关注{n}方面的新闻
我父亲每天早上都要看报纸
本来想{v}一下{n}，结果也没成
{d}{v}了一下，还是不太清楚
不知道是不是{n}的原因
我觉得这个{n}有点{a}
按理说{n}应该{d}{v}才对
如果方便的话请{d}{v}
这个事情我{d}{v}过好几次
家里人也{d}{v}过这方面的{n}
希望能{d}{v}一下
您看这样行不行
这样下去可不行
麻烦你们查一下
希望能尽快给我答复
我白天要上班，只能晚上处理
其实我也不想给你们添麻烦
前几天{v}{n}的时候也遇到过类似的情况
现在的{n}{d}{a}
我们那边的{n}{d}很{a}
听说{n}最近要{v}
我{d}没时间{v}{n}
{n}和{n}都{d}{a}
为了{n}的事我{d}{v}
我和爱人都是退休的，{d}在家
sorry，又来麻烦你们了
OK，就这样吧
BTW，{n}的事也请{v}一下
"""

# Words that link clauses (with their comma where one belongs).
CONNECTIVES = lines("""
而且
但是
可是
所以
然后
结果
其实
我想
并且
因为
""")
OPENERS = lines("""
另外，
还有，
对了，
还有就是
再说
还有一件事，
""")
# How a customer comes back to the main complaint at the end.
RESTATE_LEAD_INS = lines("""
总之，
再说一遍，
还是那句话，
最后再强调一下，
反正就是
总而言之，
""")

# Clauses carrying one piece of personal data, appended near the end of some mails.
CONTACT_CLAUSES: dict[str, str] = {
    "phone": """
有事请打我手机{phone}
我的手机号是{phone}
方便的话请回电{phone}
白天可以打{phone}找我
""",
    "landline": """
我家里电话是{landline}
白天可以打我单位电话{landline}
座机{landline}，晚上有人
""",
    "email": """
也可以回邮件到{email}
我的邮箱是{email}
请把结果发到{email}
""",
    "idcard": """
我的身份证号是{idcard}
订户登记的身份证号码是{idcard}
""",
    "bankcard": """
退款请打到我的卡上，卡号{bankcard}
扣款的银行卡号是{bankcard}
""",
    "address": """
我家地址是{address}
我的地址是{address}
请寄到{address}
""",
    "url": """
截图放在{url}
具体情况可以看这个链接{url}
你们网站上写的在这里{url}
""",
}

# "|" stands for a line break in the three blocks below.
GREETINGS = """
您好！|
您好，|
您好：|
你好，|
你好！|
尊敬的客服：|
尊敬的明河日报客服人员：|您好！|
客服你好，|
编辑部的同志们：|
领导好：|
Hi，|
Dear 客服，|
客服小姐：|你好，|
"""

SIGN_OFFS = """
谢谢！
谢谢。
多谢！
此致|敬礼！
盼复。
急盼回复！
祝好！
麻烦了，谢谢
Thanks!
Best regards
顺祝商祺
谢谢你们
"""

# Ways to sign a name: {surname}, {name} (full name).
NAME_LINES = """
{surname}先生
{surname}女士
{name}
读者 {name}
老订户 {name}
{name} 敬上
"""

CONTACT_LINES: dict[str, str] = {
    "phone": "手机：{phone}\n手机 {phone}\nTel: {phone}\n联系电话：{phone}",
    "landline": "电话：{landline}\n座机：{landline}\nTel: {landline}",
    "email": "邮箱：{email}\nE-mail: {email}\nEmail：{email}",
    "address": "地址：{address}\n家庭住址：{address}",
}

MOBILE_TAILS = lines("""
发自我的iPhone
发自我的 iPad
Sent from my BlackBerry
""")

# The earlier reply of the call center that customers leave under their own text.
SERVICE_REPLIES = lines("""
您好！感谢您对明河日报的支持。关于您反映的{subject}问题，我们已经转交相关部门处理，请耐心等待。
您好，您的来信已收到。我们会在三个工作日内与您联系，给您带来不便，敬请谅解。
尊敬的读者：您好！您的{subject}申请我们已经登记，如有疑问请拨打客服热线。
您好，我们已经通知发行站核实，如问题仍未解决，请再次来信告知，谢谢。
您好！请提供您的订户姓名和投递地址，以便我们尽快查询处理。
您好，关于{subject}，按照规定需要您本人来电确认，谢谢您的配合。
""")
SERVICE_AGENTS = lines("""
明河日报客服中心
客服专员 小王
客服部 李小姐
明河日报发行部
""")

# Typo and variant spellings customers really produce (pinyin input homophones, old forms):
# canonical -> variants. Every one is mapped back in synonyms.txt.
TYPOS = """
账单 帐单
账户 帐户
账号 帐号
订阅 定阅
订户 定户
退订 退定
续订 续定
投递 投第
登录 登陆
密码 秘码
地址 地趾
优惠 优慧
赠送 增送
版面 板面
电子版 电子板
投诉 投述
付款 付欵
已经 以经
再次 在次
"""

# True synonyms (different words, same meaning): canonical -> variants. The generator
# writes a variant instead of the canonical word in some mails; synonyms.txt maps back.
SYNONYMS = """
投递员 送报员 送报的 邮递员
订阅费 报纸钱 报费 订报费
暂停投递 停送 停报
地址变更 改地址 换地址
涨价 提价
电子版 电子报 网络版 数字版
赠品 礼品
退订 退报
续订 续报
报箱 信箱 报纸箱
登录 登入
多扣 多收
自动扣款 代扣 自动划账
"""

# Words of templates and typos that are not domain words but must still be one token.
EXTRA_USER_WORDS = """
没送到/v 登录不上/v 打不开/v
"""

# --- pieces of slot values --------------------------------------------------------------
NUMBERS = lines("""
两
三
好几
四
五
3
5
10
十几
""")
DURATIONS = lines("""
三天
好几天
一个星期
两个星期
半个月
一个月
10天
两天
""")
DATES = lines("""
昨天
前天
上周三
这个星期一
3月5号
12月20日
上个月15号
今天
5号
""")
MONTHS = lines("""
上个月
一月份
去年十二月
这个季度
今年上半年
三月份
""")
MONEY = lines("""
360元
180元
二百多块
45元
99元
12.5元
一百多块钱
30元
""")
BANKS = lines("""
工商银行
建设银行
农业银行
中国银行
招商银行
交通银行
""")
COMPANIES = lines("""
东方贸易有限公司
华信科技有限公司
新城建筑设计院
明德中学
长江物流有限公司
市第一人民医院
""")

SURNAMES = lines("""
王 李 张 刘 陈 杨 黄 赵 吴 周 徐 孙 马 朱 胡 郭 何 高 林 罗 郑 梁 谢 宋 唐 许 韩 冯 邓 曹
彭 曾 肖 田 董 袁 潘 于 蒋 蔡 余 杜 叶 程 苏 魏 吕 丁 任 沈
""".replace(" ", "\n"))
GIVEN_NAMES = lines("""
伟 芳 娜 敏 静 丽 强 磊 军 洋 勇 艳 杰 娟 涛 明 超 秀英 霞 平 刚 桂英 建国 建华 国强
志强 海燕 红 玉兰 秀兰 小红 晓东 文 斌 辉 宁 鹏 飞 华 玲 丹 萍 颖 浩 宇 婷 雪梅 春生
""".replace(" ", "\n"))
# Latin spellings of the same names for e-mail user names.
PINYIN_NAMES = lines("""
wang li zhang liu chen yang huang zhao wu zhou xu sun ma zhu hu guo he gao lin luo
wei fang na min jing li qiang lei jun yang yong yan jie juan tao ming chao xia ping gang
""".replace(" ", "\n"))
MAIL_DOMAINS = lines("""
163.com
126.com
qq.com
sina.com
sohu.com
yahoo.com.cn
hotmail.com
gmail.com
263.net
21cn.com
""")

# Postal addresses: city + district, road, house.
CITY_DISTRICTS = lines("""
北京市朝阳区
北京市海淀区
上海市徐汇区
上海市浦东新区
广州市天河区
杭州市西湖区
南京市鼓楼区
成都市武侯区
武汉市洪山区
天津市和平区
济南市历下区
沈阳市和平区
西安市雁塔区
苏州市姑苏区
""")
ROADS = lines("""
中山路
人民路
解放路
建设路
长江路
和平街
东风大道
文化路
新华路
青年路
幸福路
学院路
""")
ESTATES = lines("""
阳光花园
金色家园
幸福里小区
锦绣苑
丽都花园
翠苑新村
""")
# Six-digit region codes that open an 18-digit resident ID.
ID_REGIONS = lines("""
110101 110105 110108 310104 310115 440106 330106 320106 510107 420111 120101 370102
210102 610113 320508
""".replace(" ", "\n"))
# Issuer prefixes of bank cards (16 or 19 digits with the Luhn check digit).
CARD_PREFIXES = lines("""
622202 622848 621700 601382 622588 622260 456351 625965 622700
""".replace(" ", "\n"))
AREA_CODES = lines("""
010 021 020 022 023 025 027 028 029 024 0571 0531 0755 0512
""".replace(" ", "\n"))
MOBILE_PREFIXES = lines("""
130 131 132 133 135 136 137 138 139 150 151 153 158 159 186 189 177 199
""".replace(" ", "\n"))
URLS = lines("""
http://www.mhrb.com.cn/epaper/
http://www.mhrb.com.cn/login.asp?user=
www.mhrb.com.cn/member/
http://blog.sina.com.cn/u/
http://photo.163.com/
https://pan.baidu.com/s/
""")
SERVICE_EMAIL = "service@mhrb.com.cn"
