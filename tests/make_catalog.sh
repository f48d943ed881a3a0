#!/usr/bin/env bash
# Writes the small text catalog of the end-to-end tests into the current folder: train.csv
# (500 products) and test.csv (100), id,title,description,category, 3 top-level categories
# and 6 leaves, a quarter of the titles Chinese, the descriptions quoted with commas.
set -euo pipefail
awk 'BEGIN {
  srand(7);
  split("Apparel > Topwear > Tshirts|Apparel > Bottomwear > Jeans|Footwear > Shoes > Sneakers|Footwear > Sandals|Home > Kitchen > Cookware|Home > Kitchen > Knives", cat, "|");
  split("cotton tee crew neck|denim slim jeans stretch|running sneaker mesh sole|strap sandal summer open|nonstick pan frying pot|chef knife steel blade", words, "|");
  split("纯棉短袖T恤|修身牛仔裤|透气跑步鞋|夏季凉鞋|不粘锅炒锅|不锈钢菜刀", zh, "|");
  print "id,title,description,category" > "train.csv"; print "id,title,description,category" > "test.csv";
  for (i = 1; i <= 600; i++) {
    c = 1 + int(rand() * 6); split(words[c], w, " ");
    t = (rand() < 0.25) ? zh[c] "" int(rand()*100) : "Brand" int(rand() * 9) " " w[1 + int(rand()*4)] " " w[1 + int(rand()*4)] " size " int(rand()*5);
    line = "p" i "," t ",\"a \"\"quoted\"\", comma, description\"," cat[c];
    print line > (i <= 500 ? "train.csv" : "test.csv");
  } }'
