#!/usr/bin/env python3
"""Writes the small sample catalog bundled with shelf (examples/sample/).

Every product here is synthetic: titles are assembled from small per-category
vocabularies (brands, colours, nouns, attributes) written for this project, with
some deliberate noise (shared words, brands that sell in two categories, titles
without their noun, a few wrong labels) so the task is not trivial: a good text
classifier reaches roughly 85-95% accuracy on test.csv, not 100%.

  python3 examples/make_sample.py            # writes examples/sample/*.csv
  python3 examples/make_sample.py --out DIR  # somewhere else

Output (UTF-8, RFC 4180 CSV with a header, "\\n" line ends):
  train.csv, valid.csv, test.csv  id,title,description,category  (400 / 60 / 60 rows)
  new.csv                         id,title,description           (10 unlabeled rows)
About a quarter of the titles are Chinese (no spaces between words); Chinese and
English products share the same English taxonomy, so labels are consistent.
Standard library only; the same seed always gives byte-identical files.
"""
import argparse
import csv
import os
import random

SEED = 20261128
N_TRAIN, N_VALID, N_TEST = 400, 60, 60
ZH_SHARE = 0.25      # share of Chinese titles
LABEL_NOISE = 0.03   # share of rows whose label is replaced by a random other leaf
NO_NOUN = 0.12       # share of titles without the category's noun (harder)
BORROW_BRAND = 0.15  # share of titles whose brand comes from a neighbouring category

# Category path -> vocabularies. "near" names the category it is easily confused with
# (brands and attributes are borrowed from there).
TAX = {
    "Apparel > Topwear > Tshirts": dict(
        near="Apparel > Topwear > Shirts",
        brands=["Puma", "Nike", "Roadster", "Hanes", "Uniqlo", "Levis"],
        nouns=["T-shirt", "Tee", "Tshirt", "Crew Neck Tee", "Graphic T-Shirt", "Polo T-shirt"],
        attrs=["Cotton", "Printed", "Round Neck", "Short Sleeve", "Slim Fit", "Oversized", "Men", "Women"],
        zh_brands=["优衣库", "森马", "李宁", "海澜之家", "班尼路"],
        zh_nouns=["短袖T恤", "圆领T恤", "T恤", "体恤衫", "印花T恤"],
        zh_attrs=["纯棉", "夏季", "男士", "女士", "宽松", "透气"],
    ),
    "Apparel > Topwear > Shirts": dict(
        near="Apparel > Topwear > Tshirts",
        brands=["Arrow", "Van Heusen", "Peter England", "Uniqlo", "Levis", "Roadster"],
        nouns=["Shirt", "Formal Shirt", "Casual Shirt", "Oxford Shirt", "Denim Shirt", "Linen Shirt"],
        attrs=["Cotton", "Checked", "Striped", "Long Sleeve", "Slim Fit", "Button Down", "Men", "Women"],
        zh_brands=["海澜之家", "雅戈尔", "优衣库", "七匹狼", "森马"],
        zh_nouns=["衬衫", "长袖衬衫", "商务衬衫", "格子衬衫", "牛津纺衬衫"],
        zh_attrs=["纯棉", "免烫", "男士", "修身", "春秋", "正装"],
    ),
    "Apparel > Bottomwear > Jeans": dict(
        near="Apparel > Topwear > Shirts",
        brands=["Levis", "Wrangler", "Lee", "Roadster", "Pepe Jeans", "Diesel"],
        nouns=["Jeans", "Denim Jeans", "Skinny Jeans", "Straight Jeans", "Bootcut Jeans"],
        attrs=["Stretch", "Mid Rise", "Washed", "Distressed", "Slim Fit", "Regular Fit", "Men", "Women"],
        zh_brands=["李维斯", "森马", "美特斯邦威", "太平鸟"],
        zh_nouns=["牛仔裤", "直筒牛仔裤", "小脚牛仔裤", "破洞牛仔裤"],
        zh_attrs=["弹力", "修身", "高腰", "水洗", "男士", "女士"],
    ),
    "Footwear > Shoes > Sports Shoes": dict(
        near="Footwear > Sandals",
        brands=["Nike", "Adidas", "Puma", "Asics", "Reebok", "Skechers"],
        nouns=["Running Shoes", "Sneakers", "Training Shoes", "Trainers", "Walking Shoes"],
        attrs=["Mesh", "Lightweight", "Lace-Up", "Cushioned", "Black", "Men", "Women", "Size 9"],
        zh_brands=["李宁", "安踏", "特步", "361度", "耐克"],
        zh_nouns=["跑步鞋", "运动鞋", "休闲运动鞋", "训练鞋", "慢跑鞋"],
        zh_attrs=["透气", "减震", "轻便", "网面", "男鞋", "女鞋"],
    ),
    "Footwear > Sandals": dict(
        near="Footwear > Shoes > Sports Shoes",
        brands=["Crocs", "Bata", "Birkenstock", "Puma", "Adidas", "Skechers"],
        nouns=["Sandals", "Flip Flops", "Slides", "Floaters", "Slippers"],
        attrs=["Open Toe", "Velcro", "Comfort", "Waterproof", "Summer", "Men", "Women", "Size 8"],
        zh_brands=["卡骆驰", "回力", "安踏", "特步"],
        zh_nouns=["凉鞋", "拖鞋", "沙滩鞋", "凉拖", "洞洞鞋"],
        zh_attrs=["夏季", "防滑", "软底", "外穿", "男款", "女款"],
    ),
    "Electronics > Phones > Smartphones": dict(
        near="Electronics > Audio > Headphones",
        brands=["Samsung", "Apple", "Xiaomi", "OnePlus", "Motorola", "Google"],
        nouns=["Smartphone", "Mobile Phone", "5G Phone", "Android Phone", "Phone"],
        attrs=["128GB", "256GB", "8GB RAM", "Dual SIM", "6.5 inch", "Unlocked", "48MP Camera"],
        zh_brands=["华为", "小米", "荣耀", "OPPO", "vivo"],
        zh_nouns=["手机", "智能手机", "5G手机", "全网通手机"],
        zh_attrs=["128GB", "256GB", "全网通", "双卡双待", "旗舰", "拍照"],
    ),
    "Electronics > Audio > Headphones": dict(
        near="Electronics > Phones > Smartphones",
        brands=["Sony", "Bose", "JBL", "Sennheiser", "Apple", "Samsung"],
        nouns=["Headphones", "Earbuds", "Earphones", "Headset", "True Wireless Earbuds"],
        attrs=["Bluetooth", "Wireless", "Noise Cancelling", "Over-Ear", "In-Ear", "with Mic", "Bass"],
        zh_brands=["索尼", "漫步者", "华为", "小米", "JBL"],
        zh_nouns=["耳机", "蓝牙耳机", "头戴式耳机", "无线耳机", "降噪耳机"],
        zh_attrs=["无线", "降噪", "入耳式", "运动", "重低音", "长续航"],
    ),
    "Electronics > Computers > Laptops": dict(
        near="Electronics > Phones > Smartphones",
        brands=["Lenovo", "Dell", "HP", "Asus", "Acer", "Apple"],
        nouns=["Laptop", "Notebook", "Ultrabook", "Gaming Laptop", "2-in-1 Laptop"],
        attrs=["14 inch", "15.6 inch", "16GB RAM", "512GB SSD", "Intel Core i5", "Windows 11", "Thin"],
        zh_brands=["联想", "戴尔", "华为", "惠普", "华硕"],
        zh_nouns=["笔记本电脑", "轻薄本", "游戏本", "笔记本"],
        zh_attrs=["14英寸", "16G内存", "512G固态", "高性能", "办公", "轻薄"],
    ),
    "Home > Kitchen > Cookware": dict(
        near="Home > Kitchen > Small Appliances",
        brands=["Prestige", "Tefal", "Hawkins", "Lodge", "Pigeon", "Meyer"],
        nouns=["Frying Pan", "Saucepan", "Kadai", "Pressure Cooker", "Wok", "Casserole"],
        attrs=["Non-Stick", "Stainless Steel", "Cast Iron", "Induction Base", "24 cm", "3 Litre"],
        zh_brands=["苏泊尔", "爱仕达", "双立人", "炊大皇"],
        zh_nouns=["炒锅", "不粘锅", "平底锅", "汤锅", "压力锅"],
        zh_attrs=["不粘", "不锈钢", "铸铁", "电磁炉通用", "家用", "加厚"],
    ),
    "Home > Kitchen > Small Appliances": dict(
        near="Home > Kitchen > Cookware",
        brands=["Philips", "Prestige", "Bajaj", "Morphy Richards", "Kent", "Pigeon"],
        nouns=["Electric Kettle", "Mixer Grinder", "Blender", "Toaster", "Rice Cooker", "Air Fryer"],
        attrs=["1.5 Litre", "750 W", "Stainless Steel", "Auto Shut-Off", "2 Jars", "Digital"],
        zh_brands=["美的", "九阳", "苏泊尔", "小熊", "飞利浦"],
        zh_nouns=["电水壶", "榨汁机", "破壁机", "电饭煲", "空气炸锅", "烤面包机"],
        zh_attrs=["家用", "多功能", "智能", "大容量", "304不锈钢", "预约"],
    ),
    "Home > Furniture > Chairs": dict(
        near="Toys > Building Sets",
        brands=["Ikea", "Green Soul", "Featherlite", "Nilkamal", "Herman Miller"],
        nouns=["Office Chair", "Dining Chair", "Gaming Chair", "Study Chair", "Rocking Chair"],
        attrs=["Ergonomic", "Mesh Back", "Wooden", "Adjustable", "Armrest", "Set of 2", "Black"],
        zh_brands=["宜家", "网易严选", "西昊", "黑白调"],
        zh_nouns=["办公椅", "电脑椅", "餐椅", "人体工学椅", "电竞椅"],
        zh_attrs=["家用", "久坐舒适", "可升降", "实木", "靠背", "网布"],
    ),
    "Toys > Building Sets": dict(
        near="Home > Furniture > Chairs",
        brands=["Lego", "Mega Bloks", "Playmobil", "Cobi", "Magformers"],
        nouns=["Building Set", "Building Blocks", "Construction Kit", "Brick Set", "Blocks"],
        attrs=["500 Pieces", "Kids", "Ages 6+", "Creative", "City", "Gift", "STEM"],
        zh_brands=["乐高", "启蒙", "森宝", "布鲁可"],
        zh_nouns=["积木", "拼装积木", "积木玩具", "拼插玩具"],
        zh_attrs=["儿童", "益智", "6岁以上", "男孩", "女孩", "礼物"],
    ),
}

COLOURS = ["Black", "White", "Red", "Navy Blue", "Grey", "Green", "Beige", "Pink", "Silver", "Blue"]
ZH_COLOURS = ["黑色", "白色", "红色", "藏青色", "灰色", "绿色", "米色", "粉色", "银色"]
SHARED = ["New", "Combo", "Pack of 2", "Premium", "Original", "Sale", "2024", "Gift", "Best Seller"]
ZH_SHARED = ["新款", "官方正品", "包邮", "2024新款", "热卖", "旗舰店", "限时特惠"]

# Descriptions: some plain, some with commas and quotes (both kinds), a few on two lines,
# so CSV quoting is exercised. {noun} is the product noun.
DESCS = [
    "Everyday {noun}, easy care.",
    'Soft, durable and "true to size" - our best-selling {noun}.',
    "Includes: 1 x {noun}, user guide, warranty card",
    'The "{noun}" you\'ll actually use, every day, for years.',
    "Ships in 2 days; returns accepted within 30 days.",
    'Rated 4.5/5 by 1,200 buyers. "Great value", says one.',
    "Model no. {n}, colour as shown, 1 year warranty.",
    "Line one: {noun}.\nLine two: care instructions inside.",
]
ZH_DESCS = [
    "正品保证，七天无理由退换。",
    "{noun}，品质之选，“好评如潮”，送运费险。",
    '商品编号{n}, 颜色以实物为准, "官方"售后',
    "包装清单：{noun} x1，说明书，保修卡",
    "第一行：{noun}\n第二行：详见商品详情页",
]

# Unlabeled products for the predict demo (id,title,description).
NEW = [
    ("n001", "Nike Men Black Cushioned Running Shoes", "Lightweight mesh, size 10"),
    ("n002", "Samsung 256GB Dual SIM 5G Phone Blue", ""),
    ("n003", "华为无线降噪蓝牙耳机 白色", "长续航，入耳式"),
    ("n004", "Prestige Non-Stick Frying Pan 24 cm Induction Base", 'Comes with a glass lid, "PFOA free"'),
    ("n005", "Uniqlo Women Cotton Oversized Graphic Tee", ""),
    ("n006", "九阳家用多功能破壁机", "大容量, 预约, 304不锈钢"),
    ("n007", "Lego City Creative Brick Set 500 Pieces Ages 6+", ""),
    ("n008", "Levis Men Slim Fit Checked Long Sleeve Shirt", "Cotton, button down collar"),
    ("n009", "人体工学办公椅 可升降 网布靠背", ""),
    ("n010", "Crocs Unisex Summer Slides Grey", "Comfortable, waterproof"),
]


def zh_title(rng, v, cat):
    brand = rng.choice(v["zh_brands"])
    if rng.random() < BORROW_BRAND:
        brand = rng.choice(TAX[v["near"]]["zh_brands"])
    parts = []
    if rng.random() < 0.35:
        parts.append(rng.choice(ZH_SHARED))
    parts.append(brand)
    parts += rng.sample(v["zh_attrs"], rng.randint(1, 2))
    if rng.random() < 0.4:
        parts.append(rng.choice(ZH_COLOURS))
    noun = rng.choice(v["zh_nouns"])
    if rng.random() >= NO_NOUN:
        parts.append(noun)
    # Chinese titles have no spaces between words; sometimes one space before a spec/colour.
    title = "".join(parts)
    if rng.random() < 0.2:
        title += " " + rng.choice([c for c in ZH_COLOURS if c not in parts] + ["1件装", "2件套"])
    return title, noun


def en_title(rng, v, cat):
    brand = rng.choice(v["brands"])
    if rng.random() < BORROW_BRAND:
        brand = rng.choice(TAX[v["near"]]["brands"])
    attrs = rng.sample(v["attrs"], rng.randint(1, 3))
    if rng.random() < BORROW_BRAND:  # an attribute of the neighbour
        attrs.append(rng.choice(TAX[v["near"]]["attrs"]))
    noun = rng.choice(v["nouns"])
    parts = [brand] + attrs
    if rng.random() < 0.5:
        parts.insert(rng.randint(1, len(parts)), rng.choice([c for c in COLOURS if c not in attrs]))
    if rng.random() >= NO_NOUN:
        parts.append(noun)
    if rng.random() < 0.25:
        parts.append(rng.choice(SHARED))
    if rng.random() < 0.15:  # shop-style suffix
        parts.append("(%s)" % rng.choice([c for c in COLOURS if c not in parts]))
    title = " ".join(parts)
    if rng.random() < 0.1:
        title = title.upper()
    elif rng.random() < 0.1:
        title = title.lower()
    return title, noun


def make_rows(rng, n):
    cats = list(TAX)
    rows = []
    for i in range(n):
        cat = cats[i % len(cats)]  # balanced classes
        v = TAX[cat]
        zh = rng.random() < ZH_SHARE
        title, noun = (zh_title if zh else en_title)(rng, v, cat)
        desc = ""
        if rng.random() < 0.45:
            tpl = rng.choice(ZH_DESCS if zh else DESCS)
            desc = tpl.format(noun=noun, n=rng.randint(1000, 99999))
        label = cat
        if rng.random() < LABEL_NOISE:
            label = rng.choice([c for c in cats if c != cat])
        rows.append([title, desc, label])
    rng.shuffle(rows)
    return rows


def write_csv(path, header, rows):
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, quoting=csv.QUOTE_MINIMAL, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "sample"))
    ap.add_argument("--seed", type=int, default=SEED)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    rows = make_rows(rng, N_TRAIN + N_VALID + N_TEST)
    os.makedirs(a.out, exist_ok=True)
    header = ["id", "title", "description", "category"]
    splits = [("train", rows[:N_TRAIN]),
              ("valid", rows[N_TRAIN:N_TRAIN + N_VALID]),
              ("test", rows[N_TRAIN + N_VALID:])]
    k = 0
    for name, part in splits:
        out = []
        for r in part:
            k += 1
            out.append(["p%04d" % k] + r)
        write_csv(os.path.join(a.out, name + ".csv"), header, out)
        print("wrote %s (%d products)" % (os.path.join(a.out, name + ".csv"), len(out)))
    write_csv(os.path.join(a.out, "new.csv"), ["id", "title", "description"], [list(r) for r in NEW])
    print("wrote %s (%d unlabeled products)" % (os.path.join(a.out, "new.csv"), len(NEW)))


if __name__ == "__main__":
    main()
