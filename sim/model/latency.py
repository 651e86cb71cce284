"""Latency model: great-circle distance, the fibre floor and typical path RTTs.

Every RTT the simulator uses between two places comes from :func:`path_rtt_ms`; the engine
precomputes tables with it once per run (sites x nodes, nodes x nodes) and never per login.

The model (see ``docs/latency.md`` for the derivation, the sources and the validation):

* Every coordinate belongs to a **region**, a peering domain such as ``europe``,
  ``north_america``, ``india``, ``nigeria`` or ``japan``: the region of the nearest of a
  shipped set of reference points (:data:`_HUB_TABLE` and :data:`_ANCHOR_TABLE`, public
  knowledge of where interconnection hubs and large cities are). Regions where local peering is
  good are continent-sized; where traffic between neighbouring countries still detours through
  Europe or the US (much of Africa, the Middle East, parts of Asia and Latin America), every
  country is its own region.
* Two places in the **same region** are joined directly:
  ``rtt = a0 + a1 * (1 - exp(-d / L)) + b * floor(d) + c * (floor(dA) + floor(dB))``, with
  ``floor(x)`` the fibre floor of ``x`` km, ``d`` the great-circle distance, ``dA`` and ``dB``
  the distances from each end to the nearest core hub of the region, ``(a0, a1, b)`` fitted per
  class of region and ``c = core_stretch``. With ``b >= 1 >= c`` it grows with distance
  whichever way the far end moves, so within one region the RTT is monotone along any great
  circle.
* Two places in **different regions** are joined over a graph of interconnection hubs (real
  metros where networks exchange traffic, linked by terrestrial backbones inside a region and
  by the submarine-cable and transit routes between regions, drawn along their approximate
  course). A host reaches each core (tier-1) hub of its own region at
  ``access_stretch x floor(d)``; each link costs ``link_stretch x floor(length) + hop_ms``;
  links into or out of mainland China add ``border_ms``, links marked ``weak`` (routes that
  carried little public transit) ``weak_ms``, and links marked ``private`` exist on the private
  backbone only; each end adds the ``access_ms`` of its class of region. The RTT is the cheapest
  such path, so detours such as Lagos-Europe-Accra or Bogota-Miami-Lima emerge from the missing
  links rather than from per-pair numbers.
* Nothing is ever below the fibre floor, and the result is exactly symmetric (path sums are
  taken on a 2**-20 ms grid, where floating-point addition is exact).

Fitted parameters live in ``sim/data/latency_params.json`` (written by
``scripts/fit_latency.py``); the structure tables below are hand-made from public knowledge.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "EARTH_RADIUS_KM",
    "FIBRE_KM_PER_MS",
    "REGION_CLASSES",
    "Geography",
    "LatencyModel",
    "NetworkParams",
    "default_model",
    "fibre_floor_rtt_ms",
    "geography",
    "haversine_km",
    "load_params",
    "path_rtt_ms",
    "region_of",
]

EARTH_RADIUS_KM = 6371.0088
"""Mean Earth radius (IUGG), the R of every great-circle distance in the project."""

FIBRE_KM_PER_MS = 204.19
"""Speed of light in fibre (group index ~1.468), km per ms one way."""

Network = Literal["public", "private"]
"""The two networks the model knows."""

PARAMS_PATH = Path(__file__).resolve().parents[1] / "data" / "latency_params.json"
"""Where the fitted parameters are shipped."""

REGION_CLASSES = ("north_america", "latin_america", "europe", "middle_east", "africa",
                  "south_asia", "southeast_asia", "east_asia", "china", "oceania")
"""Classes of regions that share parameters (access overhead, in-region curve)."""

_GRID = 1048576.0  # 2**20: path sums are exact on this grid, so results are exactly symmetric


def haversine_km(lat_a: ArrayLike, lon_a: ArrayLike, lat_b: ArrayLike,
                 lon_b: ArrayLike) -> NDArray[np.float64]:
    """Great-circle distance in km between points given in degrees (broadcasts).

    Examples
    --------
    >>> round(float(haversine_km(0.0, 0.0, 0.0, 1.0)), 3)
    111.195
    """
    la1, lo1, la2, lo2 = (np.radians(np.asarray(x, dtype=float))
                          for x in (lat_a, lon_a, lat_b, lon_b))
    h = np.sin((la2 - la1) / 2) ** 2 + np.cos(la1) * np.cos(la2) * np.sin((lo2 - lo1) / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))


def fibre_floor_rtt_ms(distance_km: ArrayLike) -> NDArray[np.float64]:
    """Round trip over straight fibre along the great circle: the physical floor.

    Examples
    --------
    >>> float(fibre_floor_rtt_ms(204.19))
    2.0
    """
    return 2.0 * np.asarray(distance_km, dtype=float) / FIBRE_KM_PER_MS


# --- Structure: hand-made from public knowledge, not fitted -------------------------------

_REGION_TABLE = """
north_america       north_america  1500
mexico              latin_america  1500
guatemala           latin_america  0
costa_rica          latin_america  0
panama              latin_america  0
caribbean           latin_america  1500
colombia            latin_america  1500
venezuela           latin_america  0
ecuador             latin_america  1500
peru                latin_america  0
bolivia             latin_america  0
chile               latin_america  0
argentina           latin_america  0
uruguay             latin_america  0
paraguay            latin_america  0
brazil              latin_america  2500
guianas             latin_america  0
europe              europe         1500
israel              middle_east    0
lebanon             middle_east    0
jordan              middle_east    0
saudi_arabia        middle_east    1500
gulf                middle_east    1500
iraq                middle_east    0
iran                middle_east    0
caucasus            middle_east    0
central_asia        middle_east    1500
india               south_asia     1500
pakistan            south_asia     1500
bangladesh          south_asia     0
sri_lanka           south_asia     0
singapore           southeast_asia 0
malaysia            southeast_asia 0
indonesia           southeast_asia 0
thailand            southeast_asia 0
vietnam             southeast_asia 1500
philippines         southeast_asia 0
myanmar             southeast_asia 0
hong_kong           east_asia      0
taiwan              east_asia      0
japan               east_asia      1500
korea               east_asia      1500
china               china          1500
oceania             oceania        2500
guam                oceania        0
egypt               africa         0
maghreb_west        africa         0
maghreb_east        africa         0
nigeria             africa         0
ghana               africa         0
ivory_coast         africa         0
senegal             africa         0
angola              africa         0
kenya               africa         1500
uganda              africa         0
tanzania            africa         0
ethiopia            africa         0
djibouti            africa         0
south_africa        africa         1500
mozambique          africa         0
"""
"""Regions: name, class of region (shares fitted parameters), mesh radius in km (hubs of a
region closer than this are linked directly; 0: the region's hubs are not linked to each other,
because its networks do not peer locally and exchange traffic abroad)."""

_HUB_TABLE = """
seattle        47.61 -122.33 north_america  1
vancouver      49.28 -123.12 north_america  1
sanjose        37.34 -121.89 north_america  1
losangeles     34.05 -118.24 north_america  1
phoenix        33.45 -112.07 north_america  1
saltlakecity   40.76 -111.89 north_america  1
denver         39.74 -104.99 north_america  1
dallas         32.78  -96.80 north_america  1
houston        29.76  -95.37 north_america  1
kansascity     39.10  -94.58 north_america  1
minneapolis    44.98  -93.27 north_america  1
chicago        41.88  -87.63 north_america  1
atlanta        33.75  -84.39 north_america  1
miami          25.76  -80.19 north_america  1
ashburn        39.04  -77.49 north_america  1
newyork        40.71  -74.01 north_america  1
boston         42.36  -71.06 north_america  1
toronto        43.65  -79.38 north_america  1
montreal       45.50  -73.57 north_america  1
calgary        51.05 -114.07 north_america  1
winnipeg       49.90  -97.14 north_america  1
honolulu       21.31 -157.86 north_america  1
mexicocity     19.43  -99.13 mexico  1
queretaro      20.59 -100.39 mexico  1
guadalajara    20.67 -103.35 mexico  2
monterrey      25.69 -100.32 mexico  2
tijuana        32.51 -117.04 mexico  2
guatemala      14.63  -90.51 guatemala  1
sanjosecr       9.93  -84.08 costa_rica  1
panamacity      8.98  -79.52 panama  1
sanjuan        18.47  -66.11 caribbean  1
santodomingo   18.49  -69.93 caribbean  1
bogota          4.71  -74.07 colombia  1
medellin        6.25  -75.56 colombia  2
barranquilla   10.96  -74.80 colombia  2
caracas        10.48  -66.90 venezuela  1
quito          -0.18  -78.47 ecuador  1
guayaquil      -2.19  -79.89 ecuador  1
lima          -12.05  -77.04 peru  1
lapaz         -16.50  -68.15 bolivia  1
santiago      -33.45  -70.67 chile  1
buenosaires   -34.60  -58.38 argentina  1
montevideo    -34.90  -56.16 uruguay  1
asuncion      -25.26  -57.58 paraguay  1
saopaulo      -23.55  -46.63 brazil  1
riodejaneiro  -22.91  -43.17 brazil  1
fortaleza      -3.73  -38.52 brazil  2
paramaribo      5.85  -55.20 guianas  1
london         51.51   -0.13 europe  1
dublin         53.35   -6.26 europe  2
amsterdam      52.37    4.90 europe  1
frankfurt      50.11    8.68 europe  1
paris          48.86    2.35 europe  1
marseille      43.30    5.37 europe  1
madrid         40.42   -3.70 europe  1
lisbon         38.72   -9.14 europe  2
milan          45.46    9.19 europe  1
palermo        38.12   13.36 europe  2
zurich         47.37    8.54 europe  1
vienna         48.21   16.37 europe  1
prague         50.08   14.44 europe  2
berlin         52.52   13.40 europe  2
copenhagen     55.68   12.57 europe  1
oslo           59.91   10.75 europe  2
stockholm      59.33   18.07 europe  1
helsinki       60.17   24.94 europe  1
warsaw         52.23   21.01 europe  1
budapest       47.50   19.04 europe  2
bucharest      44.43   26.10 europe  2
sofia          42.70   23.32 europe  2
athens         37.98   23.73 europe  2
istanbul       41.01   28.98 europe  2
kyiv           50.45   30.52 europe  2
moscow         55.76   37.62 europe  1
stpetersburg   59.94   30.31 europe  1
yekaterinburg  56.84   60.61 europe  2
novosibirsk    55.03   82.92 europe  1
reykjavik      64.15  -21.94 europe  2
telaviv        32.08   34.78 israel  1
beirut         33.89   35.50 lebanon  1
amman          31.95   35.93 jordan  1
riyadh         24.71   46.68 saudi_arabia  1
jeddah         21.49   39.19 saudi_arabia  1
dubai          25.20   55.27 gulf  1
fujairah       25.12   56.33 gulf  2
doha           25.29   51.53 gulf  1
muscat         23.59   58.41 gulf  1
kuwait         29.37   47.98 gulf  1
baghdad        33.31   44.36 iraq  1
tehran         35.69   51.39 iran  1
tbilisi        41.72   44.79 caucasus  1
baku           40.41   49.87 caucasus  1
almaty         43.24   76.95 central_asia  1
astana         51.17   71.45 central_asia  1
tashkent       41.30   69.24 central_asia  1
mumbai         19.08   72.88 india  1
chennai        13.08   80.27 india  1
delhi          28.61   77.21 india  1
bangalore      12.97   77.59 india  1
kolkata        22.57   88.36 india  2
karachi        24.86   67.01 pakistan  1
lahore         31.55   74.34 pakistan  1
dhaka          23.81   90.41 bangladesh  1
colombo         6.93   79.85 sri_lanka  1
singapore       1.35  103.82 singapore  1
kualalumpur     3.14  101.69 malaysia  1
jakarta        -6.21  106.85 indonesia  1
bangkok        13.76  100.50 thailand  1
hochiminh      10.82  106.63 vietnam  1
hanoi          21.03  105.85 vietnam  1
manila         14.60  120.98 philippines  1
yangon         16.87   96.20 myanmar  1
hongkong       22.32  114.17 hong_kong  1
taipei         25.03  121.57 taiwan  1
tokyo          35.68  139.69 japan  1
osaka          34.69  135.50 japan  1
seoul          37.57  126.98 korea  1
busan          35.18  129.08 korea  2
shanghai       31.23  121.47 china  1
beijing        39.90  116.41 china  1
guangzhou      23.13  113.26 china  1
shenzhen       22.54  114.06 china  2
chengdu        30.57  104.07 china  2
sydney        -33.87  151.21 oceania  1
melbourne     -37.81  144.96 oceania  1
brisbane      -27.47  153.03 oceania  2
adelaide      -34.93  138.60 oceania  2
perth         -31.95  115.86 oceania  1
auckland      -36.85  174.76 oceania  1
wellington    -41.29  174.78 oceania  2
guam           13.44  144.79 guam  1
cairo          30.04   31.24 egypt  1
casablanca     33.57   -7.59 maghreb_west  1
algiers        36.75    3.06 maghreb_east  1
tunis          36.81   10.18 maghreb_east  1
lagos           6.52    3.38 nigeria  1
accra           5.60   -0.19 ghana  1
abidjan         5.36   -4.01 ivory_coast  1
dakar          14.72  -17.47 senegal  1
luanda         -8.84   13.23 angola  1
nairobi        -1.29   36.82 kenya  1
mombasa        -4.04   39.67 kenya  2
kampala         0.35   32.58 uganda  1
daressalaam    -6.79   39.21 tanzania  1
addisababa      9.03   38.74 ethiopia  1
djibouti       11.59   43.15 djibouti  1
johannesburg  -26.20   28.05 south_africa  1
capetown      -33.92   18.42 south_africa  1
durban        -29.86   31.03 south_africa  2
maputo        -25.97   32.57 mozambique  1
"""
"""Interconnection hubs: name, lat, lon, region, tier. Metros with a major internet exchange,
carrier-neutral data centres or a cable landing station (PeeringDB, TeleGeography's public
submarine-cable map, operators' network maps); coordinates of the metro centre. Tier 1: a core
hub, where the region's networks buy transit and interconnect, and where its hosts attach;
tier 2: a secondary exchange or a landing station, a node of the graph only."""

_ANCHOR_TABLE = """
anchorage      61.22 -149.90 north_america
edmonton       53.55 -113.49 north_america
halifax        44.65  -63.57 north_america
neworleans     29.95  -90.07 north_america
elpaso         31.76 -106.49 north_america
sandiego       32.72 -117.16 north_america
hermosillo     29.07 -110.96 mexico
chihuahua      28.63 -106.07 mexico
merida         20.97  -89.62 mexico
cancun         21.16  -86.85 mexico
sansalvador    13.69  -89.22 guatemala
tegucigalpa    14.07  -87.19 guatemala
sanpedrosula   15.50  -88.03 guatemala
managua        12.11  -86.24 costa_rica
havana         23.11  -82.37 caribbean
kingston       18.00  -76.79 caribbean
portauprince   18.59  -72.31 caribbean
portofspain    10.65  -61.50 caribbean
cali            3.45  -76.53 colombia
maracaibo      10.65  -71.64 venezuela
trujillo       -8.11  -79.03 peru
arequipa      -16.41  -71.54 peru
santacruz     -17.78  -63.18 bolivia
antofagasta   -23.65  -70.40 chile
puertomontt   -41.47  -72.94 chile
cordoba       -31.42  -64.18 argentina
mendoza       -32.89  -68.83 argentina
brasilia      -15.79  -47.88 brazil
salvador      -12.97  -38.50 brazil
manaus         -3.12  -60.02 brazil
portoalegre   -30.03  -51.23 brazil
curitiba      -25.43  -49.27 brazil
belem          -1.46  -48.49 brazil
georgetown      6.80  -58.16 guianas
cayenne         4.92  -52.31 guianas
nicosia        35.17   33.36 europe
valletta       35.90   14.51 europe
izmir          38.42   27.14 europe
ankara         39.93   32.86 europe
minsk          53.90   27.56 europe
kazan          55.79   49.12 europe
samara         53.20   50.15 europe
rostov         47.24   39.71 europe
omsk           54.99   73.37 europe
krasnoyarsk    56.01   92.89 europe
irkutsk        52.29  104.28 europe
vladivostok    43.12  131.89 europe
jerusalem      31.77   35.21 israel
damascus       33.51   36.29 lebanon
medina         24.47   39.61 saudi_arabia
dammam         26.43   50.10 saudi_arabia
manama         26.23   50.59 gulf
abudhabi       24.45   54.38 gulf
sanaa          15.37   44.19 saudi_arabia
basra          30.51   47.78 iraq
mashhad        36.30   59.60 iran
yerevan        40.18   44.51 caucasus
bishkek        42.87   74.59 central_asia
ashgabat       37.96   58.33 central_asia
dushanbe       38.56   68.79 central_asia
kabul          34.56   69.21 pakistan
islamabad      33.68   73.05 pakistan
hyderabad      17.39   78.49 india
ahmedabad      23.02   72.57 india
pune           18.52   73.86 india
kathmandu      27.72   85.32 india
chittagong     22.36   91.78 bangladesh
johor           1.49  103.74 malaysia
penang          5.41  100.33 malaysia
kuching         1.55  110.36 malaysia
surabaya       -7.26  112.75 indonesia
medan           3.60   98.67 indonesia
makassar       -5.15  119.43 indonesia
chiangmai      18.79   98.98 thailand
phnompenh      11.56  104.92 thailand
vientiane      17.98  102.63 thailand
danang         16.05  108.20 vietnam
cebu           10.32  123.89 philippines
davao           7.19  125.46 philippines
dagupan        16.04  120.33 philippines
macau          22.20  113.55 hong_kong
kaohsiung      22.63  120.30 taiwan
sapporo        43.06  141.35 japan
fukuoka        33.59  130.40 japan
ulaanbaatar    47.89  106.91 china
harbin         45.80  126.53 china
wuhan          30.59  114.31 china
xian           34.34  108.94 china
kunming        25.04  102.71 china
urumqi         43.83   87.62 china
xiamen         24.48  118.09 china
hobart        -42.88  147.33 oceania
darwin        -12.46  130.84 oceania
christchurch  -43.53  172.64 oceania
suva          -18.14  178.44 oceania
portmoresby    -9.44  147.18 oceania
alexandria     31.20   29.92 egypt
khartoum       15.50   32.56 egypt
tripoli        32.89   13.19 maghreb_east
rabat          34.02   -6.84 maghreb_west
fez            34.03   -5.00 maghreb_west
marrakesh      31.63   -8.01 maghreb_west
oran           35.70   -0.63 maghreb_east
abuja           9.08    7.40 nigeria
kano           12.00    8.52 nigeria
kumasi          6.69   -1.62 ghana
lome            6.13    1.22 ghana
cotonou         6.37    2.39 nigeria
ouagadougou    12.37   -1.52 ghana
bamako         12.64   -8.00 senegal
conakry         9.64  -13.58 senegal
freetown        8.47  -13.23 senegal
monrovia        6.30  -10.80 ivory_coast
douala          4.05    9.77 nigeria
yaounde         3.87   11.52 nigeria
libreville      0.42    9.47 angola
kinshasa       -4.44   15.27 angola
windhoek      -22.56   17.08 south_africa
gaborone      -24.65   25.91 south_africa
harare        -17.83   31.05 south_africa
lusaka        -15.39   28.32 south_africa
lilongwe      -13.96   33.79 mozambique
antananarivo  -18.88   47.51 mozambique
kigali         -1.95   30.06 uganda
bujumbura      -3.36   29.36 uganda
juba            4.85   31.58 uganda
mogadishu       2.05   45.32 djibouti
dongguan        23.02  113.75 china
foshan          23.02  113.12 china
zhongshan       22.52  113.39 china
zhuhai          22.27  113.58 china
zhanjiang       21.27  110.36 china
haikou          20.04  110.34 china
sanya           18.25  109.50 china
nanning         22.82  108.32 china
fuzhou          26.07  119.30 china
wenzhou         28.00  120.67 china
quanzhou        24.87  118.68 china
hangzhou        30.27  120.15 china
nanjing         32.06  118.80 china
qingdao         36.07  120.38 china
yantai          37.46  121.45 china
weihai          37.51  122.12 china
jinan           36.67  117.00 china
tianjin         39.13  117.20 china
dalian          38.91  121.60 china
shenyang        41.80  123.43 china
dandong         40.12  124.38 china
changchun       43.88  125.32 china
yanji           42.90  129.50 china
mudanjiang      44.58  129.60 china
jixi            45.30  130.97 china
hohhot          40.84  111.75 china
lanzhou         36.06  103.83 china
xining          36.62  101.78 china
lhasa           29.65   91.10 china
nyingchi        29.65   94.36 china
kashgar         39.47   75.99 china
aksu            41.17   80.26 china
yining          43.90   81.30 china
guiyang         26.65  106.63 china
changsha        28.23  112.94 china
zhengzhou       34.75  113.63 china
tuenmun         22.39  113.97 hong_kong
yuenlong        22.44  114.02 hong_kong
fanling         22.49  114.14 hong_kong
shatin          22.38  114.19 hong_kong
amritsar        31.63   74.87 india
jalandhar       31.33   75.58 india
ludhiana        30.90   75.85 india
bathinda        30.21   74.95 india
jammu           32.73   74.86 india
srinagar        34.08   74.80 india
chandigarh      30.73   76.78 india
guwahati        26.14   91.74 india
shillong        25.57   91.88 india
imphal          24.80   93.94 india
agartala        23.83   91.28 india
silchar         24.83   92.78 india
aizawl          23.73   92.72 india
thiruvananthapuram   8.52   76.94 india
tirunelveli      8.71   77.76 india
madurai          9.93   78.12 india
kochi            9.93   76.27 india
portblair       11.62   92.73 india
tabriz          38.08   46.29 iran
urmia           37.55   45.08 iran
ardabil         38.25   48.29 iran
shiraz          29.59   52.58 iran
kerman          30.28   57.08 iran
zahedan         29.50   60.86 iran
bandarabbas     27.18   56.27 iran
bushehr         28.92   50.84 iran
ahvaz           31.32   48.67 iran
kermanshah      34.31   47.06 iran
sanandaj        35.31   47.00 iran
khorramabad     33.49   48.35 iran
isfahan         32.65   51.67 iran
yazd            31.90   54.37 iran
gorgan          36.84   54.43 iran
bojnurd         37.47   57.33 iran
diyarbakir      37.91   40.24 europe
erzurum         39.90   41.27 europe
van             38.50   43.38 europe
trabzon         41.00   39.72 europe
gaziantep       37.07   37.38 europe
sanliurfa       37.16   38.79 europe
antakya         36.20   36.16 europe
adana           37.00   35.32 europe
malatya         38.35   38.31 europe
kayseri         38.73   35.49 europe
batman          37.88   41.13 europe
aktobe          50.28   57.21 central_asia
oral            51.23   51.37 central_asia
atyrau          47.10   51.92 central_asia
aktau           43.65   51.17 central_asia
pavlodar        52.29   76.95 central_asia
semey           50.41   80.25 central_asia
ustkamenogorsk  49.95   82.61 central_asia
kostanay        53.21   63.62 central_asia
petropavl       54.87   69.14 central_asia
shymkent        42.30   69.60 central_asia
kyzylorda       44.85   65.50 central_asia
karaganda       49.80   73.10 central_asia
makhachkala     42.98   47.50 europe
grozny          43.32   45.69 europe
vladikavkaz     43.02   44.68 europe
nalchik         43.49   43.62 europe
astrakhan       46.35   48.04 europe
krasnodar       45.04   38.98 europe
sochi           43.60   39.73 europe
yakutsk         62.03  129.73 europe
blagoveshchensk  50.26  127.53 europe
khabarovsk      48.48  135.08 europe
komsomolsk      50.55  137.00 europe
sakhalin        46.96  142.74 europe
kamchatka       53.02  158.65 europe
magadan         59.56  150.80 europe
chita           52.03  113.50 europe
ulanude         51.83  107.58 europe
malaga          36.72   -4.42 europe
granada         37.18   -3.60 europe
almeria         36.84   -2.46 europe
murcia          37.98   -1.13 europe
alicante        38.35   -0.48 europe
valencia        39.47   -0.38 europe
palma           39.57    2.65 europe
sevilla         37.39   -5.98 europe
cadiz           36.53   -6.29 europe
laspalmas       28.10  -15.42 europe
tenerife        28.47  -16.25 europe
funchal         32.65  -16.91 europe
pontadelgada    37.74  -25.67 europe
cagliari        39.22    9.12 europe
oujda           34.68   -1.91 maghreb_west
nador           35.17   -2.93 maghreb_west
tangier         35.77   -5.80 maghreb_west
agadir          30.42   -9.60 maghreb_west
laayoune        27.15  -13.20 maghreb_west
salta          -24.79  -65.41 argentina
jujuy          -24.19  -65.30 argentina
tucuman        -26.81  -65.22 argentina
neuquen        -38.95  -68.06 argentina
comodoro       -45.86  -67.48 argentina
bahiablanca    -38.72  -62.27 argentina
mardelplata    -38.00  -57.56 argentina
rosario        -32.95  -60.65 argentina
corrientes     -27.47  -58.83 argentina
posadas        -27.37  -55.90 argentina
santafe        -31.63  -60.70 argentina
bariloche      -41.13  -71.30 argentina
riogallegos    -51.62  -69.22 argentina
ushuaia        -54.80  -68.30 argentina
arusha          -3.37   36.68 tanzania
moshi           -3.35   37.34 tanzania
tanga           -5.07   39.10 tanzania
dodoma          -6.16   35.75 tanzania
mwanza          -2.52   32.90 tanzania
tabora          -5.02   32.80 tanzania
mbeya           -8.90   33.46 tanzania
songea         -10.68   35.65 tanzania
kigoma          -4.88   29.63 tanzania
mtwara         -10.27   40.18 tanzania
mandalay        21.97   96.08 myanmar
naypyidaw       19.76   96.08 myanmar
monywa          22.11   95.14 myanmar
sittwe          20.15   92.90 myanmar
taunggyi        20.78   97.04 myanmar
myitkyina       25.38   97.40 myanmar
mawlamyine      16.49   97.63 myanmar
pekanbaru        0.51  101.45 indonesia
padang          -0.95  100.35 indonesia
jambi           -1.60  103.60 indonesia
palembang       -2.98  104.76 indonesia
batam            1.08  104.05 indonesia
pontianak       -0.03  109.33 indonesia
palangkaraya    -2.21  113.92 indonesia
balikpapan      -1.24  116.85 indonesia
tarakan          3.30  117.63 indonesia
manado           1.47  124.84 indonesia
ternate          0.79  127.38 indonesia
ambon           -3.70  128.18 indonesia
sorong          -0.88  131.25 indonesia
jayapura        -2.53  140.72 indonesia
merauke         -8.49  140.40 indonesia
kupang         -10.17  123.60 indonesia
denpasar        -8.65  115.22 indonesia
bandaaceh        5.55   95.32 indonesia
semarang        -6.97  110.42 indonesia
bandung         -6.91  107.61 indonesia
tabuk           28.38   36.57 saudi_arabia
sakakah         29.97   40.20 saudi_arabia
arar            30.97   41.04 saudi_arabia
hafaralbatin    28.43   45.96 saudi_arabia
hail            27.52   41.69 saudi_arabia
abha            18.22   42.50 saudi_arabia
jizan           16.89   42.55 saudi_arabia
hofuf           25.38   49.59 saudi_arabia
diredawa         9.60   41.85 ethiopia
harar            9.31   42.12 ethiopia
jijiga           9.35   42.80 ethiopia
mekele          13.50   39.47 ethiopia
gondar          12.60   37.47 ethiopia
hawassa          7.06   38.48 ethiopia
kisumu          -0.09   34.77 kenya
kakamega         0.28   34.75 kenya
eldoret          0.51   35.27 kenya
kitale           1.02   35.00 kenya
garissa         -0.45   39.65 kenya
mandera          3.94   41.86 kenya
ciudadguayana    8.35  -62.65 venezuela
maturin          9.75  -63.18 venezuela
cumana          10.46  -64.17 venezuela
porlamar        10.96  -63.85 venezuela
ciudadbolivar    8.12  -63.55 venezuela
barquisimeto    10.07  -69.32 venezuela
sancristobal     7.77  -72.22 venezuela
cucuta           7.89  -72.50 colombia
valledupar      10.46  -73.25 colombia
riohacha        11.54  -72.91 colombia
bucaramanga      7.12  -73.12 colombia
pasto            1.21  -77.28 colombia
cartagena       10.39  -75.48 colombia
piura           -5.19  -80.63 peru
sullana         -4.90  -80.69 peru
chiclayo        -6.77  -79.84 peru
iquitos         -3.75  -73.25 peru
tarapoto        -6.49  -76.37 peru
cusco          -13.53  -71.97 peru
tacna          -18.01  -70.25 peru
mosul           36.34   43.13 iraq
erbil           36.19   44.01 iraq
dohuk           36.87   42.99 iraq
kirkuk          35.47   44.39 iraq
beira          -19.84   34.84 mozambique
chimoio        -19.12   33.48 mozambique
nampula        -15.12   39.27 mozambique
pemba          -12.97   40.52 mozambique
tete           -16.16   33.59 mozambique
tuxtla          16.75  -93.12 mexico
tapachula       14.90  -92.26 mexico
villahermosa    17.99  -92.93 mexico
campeche        19.85  -90.53 mexico
ciudadjuarez    31.69 -106.42 mexico
mexicali        32.62 -115.45 mexico
nogales         31.31 -110.94 mexico
reynosa         26.08  -98.30 mexico
matamoros       25.87  -97.50 mexico
oaxaca          17.06  -96.73 mexico
cuiaba         -15.60  -56.10 brazil
campogrande    -20.47  -54.62 brazil
portovelho      -8.76  -63.90 brazil
riobranco       -9.97  -67.81 brazil
boavista         2.82  -60.67 brazil
fozdoiguacu    -25.52  -54.58 brazil
cascavel       -24.96  -53.46 brazil
dourados       -22.22  -54.81 brazil
uruguaiana     -29.75  -57.09 brazil
corumba        -19.00  -57.65 brazil
macapa           0.03  -51.07 brazil
belohorizonte  -19.92  -43.94 brazil
recife          -8.05  -34.90 brazil
mbombela       -25.47   30.97 south_africa
polokwane      -23.90   29.45 south_africa
thohoyandou    -22.95   30.48 south_africa
bloemfontein   -29.12   26.21 south_africa
portelizabeth  -33.96   25.60 south_africa
arish           31.13   33.80 egypt
aswan           24.09   32.90 egypt
luxor           25.69   32.64 egypt
hurghada        27.26   33.81 egypt
sharmelsheikh   27.91   34.33 egypt
benghazi        32.12   20.07 maghreb_east
bayda           32.76   21.74 maghreb_east
derna           32.76   22.64 maghreb_east
tobruk          32.08   23.96 maghreb_east
misrata         32.38   15.09 maghreb_east
sabha           27.04   14.43 maghreb_east
hatyai           7.01  100.47 thailand
suratthani       9.14   99.33 thailand
phuket           7.88   98.39 thailand
ubonratchathani  15.24  104.85 thailand
udonthani       17.41  102.79 thailand
rachgia         10.01  105.08 vietnam
cantho          10.03  105.78 vietnam
phuquoc         10.22  103.96 vietnam
hue             16.46  107.60 vietnam
haiphong        20.86  106.68 vietnam
nhatrang        12.24  109.19 vietnam
khulna          22.82   89.55 bangladesh
jessore         23.17   89.21 bangladesh
rajshahi        24.37   88.60 bangladesh
rangpur         25.75   89.25 bangladesh
sylhet          24.90   91.87 bangladesh
kotakinabalu     5.98  116.07 malaysia
sandakan         5.84  118.12 malaysia
tawau            4.24  117.89 malaysia
miri             4.40  113.99 malaysia
singapore_n      1.42  103.80 singapore
salto          -31.38  -57.96 uruguay
paysandu       -32.32  -58.08 uruguay
rivera         -30.90  -55.55 uruguay
aleppo          36.20   37.16 lebanon
homs            34.73   36.71 lebanon
latakia         35.52   35.79 lebanon
batumi          41.64   41.64 caucasus
kutaisi         42.27   42.70 caucasus
sialkot         32.49   74.53 pakistan
gujrat          32.57   74.08 pakistan
bahawalpur      29.40   71.68 pakistan
rahimyarkhan    28.42   70.30 pakistan
multan          30.20   71.47 pakistan
faisalabad      31.42   73.08 pakistan
gilgit          35.92   74.31 pakistan
skardu          35.30   75.63 pakistan
sukkur          27.70   68.86 pakistan
quetta          30.18   67.00 pakistan
peshawar        34.00   71.57 pakistan
siliguri        26.73   88.40 india
dhanbad         23.80   86.43 india
asansol         23.68   86.98 india
bhagalpur       25.25   87.00 india
purnia          25.78   87.47 india
patna           25.60   85.10 india
ranchi          23.34   85.31 india
dibrugarh       27.47   94.91 india
tinsukia        27.49   95.36 india
comilla         23.46   91.18 bangladesh
brahmanbaria    23.96   91.11 bangladesh
temuco         -38.74  -72.60 chile
losangeles_cl  -37.47  -72.35 chile
concepcion     -36.83  -73.05 chile
valdivia       -39.81  -73.25 chile
puntaarenas    -53.16  -70.91 chile
coyhaique      -45.57  -72.07 chile
arica          -18.48  -70.31 chile
iquique        -20.21  -70.15 chile
calama         -22.46  -68.93 chile
laserena       -29.90  -71.25 chile
quetzaltenango  14.84  -91.52 guatemala
loja            -4.00  -79.20 ecuador
cuenca          -2.90  -79.00 ecuador
pasirgudang      1.47  103.90 malaysia
kotabharu        6.13  102.24 malaysia
gaza            31.50   34.47 israel
portsudan       19.62   37.22 egypt
kassala         15.45   36.40 egypt
gedaref         14.03   35.38 egypt
jaffna           9.66   80.01 sri_lanka
tarija         -21.53  -64.73 bolivia
singapore_e      1.38  103.93 singapore
raqqa           35.95   39.01 lebanon
deirezzor       35.34   40.14 lebanon
hasakah         36.50   40.75 lebanon
"""
"""Further reference points (large cities) that only shape the regions: a coordinate belongs
to the region of the nearest hub or anchor."""

_LINK_TABLE = """
honolulu losangeles
honolulu sanjose
honolulu seattle
honolulu sydney
honolulu auckland
honolulu guam
guam tokyo
guam sydney weak
guam hongkong
guam manila
tokyo seattle
tokyo losangeles
tokyo sanjose
seattle calgary
winnipeg toronto
newyork london
newyork dublin
newyork paris 47.0,-30.0
ashburn madrid 43.5,-30.0 43.5,-3.0
boston london
reykjavik london
reykjavik copenhagen
tijuana losangeles
monterrey dallas
monterrey houston
guadalajara losangeles 23.0,-110.0
mexicocity guatemala
guatemala miami 17.0,-85.0 21.5,-86.0
sanjosecr miami 15.0,-81.0
sanjosecr panamacity
panamacity miami 15.0,-78.0
panamacity barranquilla
barranquilla miami 17.0,-76.0
sanjuan miami
santodomingo miami
caracas miami 15.0,-69.0 20.0,-72.0
quito bogota
guayaquil panamacity
lima santiago
lima miami -5.0,-82.5 7.0,-80.0 9.4,-79.9 17.0,-77.0
lima lapaz
santiago buenosaires
buenosaires montevideo
buenosaires asuncion
buenosaires saopaulo
montevideo saopaulo
asuncion saopaulo
fortaleza miami 10.0,-45.0 18.0,-65.0
riodejaneiro miami -5.0,-33.0 10.0,-45.0 18.0,-65.0
paramaribo sanjuan 10.8,-60.0
sanjuan fortaleza 10.0,-50.0
lisbon london 44.0,-10.0
lisbon casablanca
madrid casablanca
marseille algiers
marseille tunis
palermo tunis
marseille cairo 37.0,13.0 32.5,29.0
palermo cairo 32.5,29.0
marseille jeddah 37.0,13.0 32.0,32.3 28.0,33.5
marseille djibouti 37.0,13.0 32.0,32.3 28.0,33.5 13.0,43.0
jeddah djibouti
telaviv palermo 34.0,25.0
telaviv marseille 34.0,25.0 37.0,13.0
beirut marseille 34.5,25.0 37.0,13.0
amman jeddah
istanbul telaviv 35.0,30.0
riyadh kuwait
riyadh dubai
riyadh doha
kuwait baghdad
baghdad istanbul
tehran istanbul
tehran dubai
tehran baku
tbilisi sofia 43.0,41.0 43.2,28.5
tbilisi istanbul
tbilisi baku
tbilisi moscow
baku moscow
almaty moscow
astana moscow
tashkent almaty
djibouti mumbai 12.5,45.0 14.0,55.0
djibouti fujairah 12.5,45.0 14.0,53.0 22.5,60.0
djibouti colombo 12.5,45.0 8.0,60.0
djibouti karachi 12.5,45.0 14.0,55.0
fujairah mumbai
fujairah karachi
muscat mumbai
muscat karachi
karachi lahore
mumbai colombo 12.0,74.0 7.0,77.5
chennai colombo
chennai singapore 6.0,88.0 5.5,95.5
colombo singapore 5.5,95.5
kolkata dhaka
dhaka singapore 16.0,91.0 5.5,95.5
singapore jakarta
singapore kualalumpur
kualalumpur bangkok
singapore bangkok 7.0,103.0
singapore hochiminh
singapore manila 7.0,113.0
singapore hongkong 10.0,111.0
singapore perth -8.0,105.0 weak
singapore yangon 5.5,97.0
yangon bangkok
hochiminh hongkong
hanoi hongkong
bangkok hanoi
manila hongkong
hongkong taipei
hongkong tokyo 25.0,123.5
taipei tokyo
osaka busan
tokyo busan
hongkong losangeles 21.0,-158.0
hongkong shenzhen
hongkong guangzhou
shanghai tokyo
shanghai losangeles 32.0,125.0 21.0,-158.0
beijing moscow 47.0,105.0
sydney auckland
perth adelaide
cairo jeddah 28.0,33.5
lagos lisbon 4.0,-4.0 9.0,-17.0 28.0,-17.0
lagos london 4.0,-4.0 9.0,-17.0 28.0,-17.0 44.0,-10.0
accra lisbon 4.0,-4.0 9.0,-17.0 28.0,-17.0
accra london 4.0,-4.0 9.0,-17.0 28.0,-17.0 44.0,-10.0
abidjan lisbon 9.0,-17.0 28.0,-17.0
abidjan marseille 9.0,-17.0 28.0,-17.0 36.0,-6.0
dakar lisbon 28.0,-17.0
luanda lagos
capetown luanda
capetown london -20.0,8.0 0.0,0.0 4.0,-4.0 9.0,-17.0 28.0,-17.0 44.0,-10.0
mombasa marseille 5.0,50.0 12.5,45.0 28.0,33.5 32.0,32.3 37.0,13.0
daressalaam mombasa
daressalaam maputo
maputo durban
durban mombasa -15.0,42.0
mombasa djibouti 5.0,50.0 private
mombasa fujairah 5.0,52.0 15.0,60.0 private
kampala nairobi
addisababa djibouti
"""
"""Links between hubs beyond the automatic regional mesh: ``a b [lat,lon ...]``, the optional
points tracing the route (coast-hugging cables, the Suez corridor) so that its length is the
length of the polyline. These are the routes IP transit took in 2020 (submarine-cable systems
with their landing stations, cross-border terrestrial fibre), not every cable that exists:
e.g. West African cables pass both Lagos and Accra, yet their networks exchanged traffic in
Europe, so there is no Lagos-Accra link; Africa and the Middle East reach Asia through
Europe."""



# --- Parsed structure --------------------------------------------------------------------------


def _unit_xyz(lat: NDArray[np.float64], lon: NDArray[np.float64]) -> NDArray[np.float64]:
    la, lo = np.radians(lat), np.radians(lon)
    return np.stack([np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)], axis=-1)


def _rows(table: str) -> list[list[str]]:
    return [line.split() for line in table.strip().splitlines() if line.strip()
            and not line.lstrip().startswith("#")]


@dataclass(frozen=True, eq=False)
class Geography:
    """The parsed structure tables: regions, hubs, reference points and links (immutable)."""

    region_names: tuple[str, ...]
    region_class: tuple[str, ...]
    hub_names: tuple[str, ...]
    hub_lat: NDArray[np.float64]
    hub_lon: NDArray[np.float64]
    hub_region: NDArray[np.int64]
    hub_core: NDArray[np.bool_]
    region_hubs: tuple[NDArray[np.int64], ...]
    """Per region, its core hubs: where its hosts attach."""
    ref_xyz: NDArray[np.float64]
    ref_region: NDArray[np.int64]
    link_a: NDArray[np.int64]
    link_b: NDArray[np.int64]
    link_km: NDArray[np.float64]
    link_border: NDArray[np.bool_]
    link_weak: NDArray[np.bool_]
    link_private: NDArray[np.bool_]
    """Links only the private backbone has (a cloud provider's own capacity on cables whose
    public transit went elsewhere)."""

    def region_index(self, lat: ArrayLike, lon: ArrayLike) -> NDArray[np.int64]:
        """Index into :attr:`region_names` of each coordinate (nearest reference point)."""
        xyz = _unit_xyz(np.asarray(lat, dtype=float), np.asarray(lon, dtype=float))
        shape = xyz.shape[:-1]
        flat = xyz.reshape(-1, 3)
        out = np.empty(len(flat), dtype=np.int64)
        for start in range(0, len(flat), 4096):  # bounded memory for huge inputs
            block = flat[start:start + 4096]
            out[start:start + 4096] = self.ref_region[np.argmax(block @ self.ref_xyz.T, axis=1)]
        return out.reshape(shape)


def _polyline_km(points: list[tuple[float, float]]) -> float:
    lat = np.array([p[0] for p in points])
    lon = np.array([p[1] for p in points])
    return float(np.sum(haversine_km(lat[:-1], lon[:-1], lat[1:], lon[1:])))


@lru_cache(maxsize=1)
def geography() -> Geography:
    """The model's structure, parsed once (the tables are constants of this module)."""
    regions = _rows(_REGION_TABLE)
    region_names = tuple(r[0] for r in regions)
    region_class = tuple(r[1] for r in regions)
    mesh_km = np.array([float(r[2]) for r in regions])
    unknown = set(region_class) - set(REGION_CLASSES)
    if unknown:
        raise ValueError(f"unknown region classes {sorted(unknown)}")
    ridx = {n: i for i, n in enumerate(region_names)}
    hubs = _rows(_HUB_TABLE)
    hub_names = tuple(h[0] for h in hubs)
    hidx = {n: i for i, n in enumerate(hub_names)}
    hub_lat = np.array([float(h[1]) for h in hubs])
    hub_lon = np.array([float(h[2]) for h in hubs])
    hub_region = np.array([ridx[h[3]] for h in hubs], dtype=np.int64)
    hub_core = np.array([h[4] == "1" for h in hubs])
    anchors = _rows(_ANCHOR_TABLE)
    ref_lat = np.concatenate([hub_lat, [float(a[1]) for a in anchors]])
    ref_lon = np.concatenate([hub_lon, [float(a[2]) for a in anchors]])
    ref_region = np.concatenate([hub_region, [ridx[a[3]] for a in anchors]]).astype(np.int64)

    links: dict[tuple[int, int], float] = {}
    weak: set[tuple[int, int]] = set()
    private: set[tuple[int, int]] = set()
    n = len(hub_names)
    km = haversine_km(hub_lat[:, None], hub_lon[:, None], hub_lat[None, :], hub_lon[None, :])
    for i in range(n):
        for j in range(i + 1, n):
            r = hub_region[i]
            if r == hub_region[j] and km[i, j] <= mesh_km[r]:
                links[(i, j)] = float(km[i, j])
    china = ridx["china"]
    for row in _rows(_LINK_TABLE):
        a, b = hidx[row[0]], hidx[row[1]]
        key = (min(a, b), max(a, b))
        while row[-1] in ("weak", "private"):
            (weak if row[-1] == "weak" else private).add(key)
            row = row[:-1]
        via = [(float(p.split(",")[0]), float(p.split(",")[1])) for p in row[2:]]
        length = _polyline_km([(hub_lat[a], hub_lon[a]), *via, (hub_lat[b], hub_lon[b])])
        links[key] = min(length, links.get(key, math.inf))
    keys = sorted(links)
    link_a = np.array([k[0] for k in keys], dtype=np.int64)
    link_b = np.array([k[1] for k in keys], dtype=np.int64)
    geo = Geography(
        region_names=region_names, region_class=region_class, hub_names=hub_names,
        hub_lat=hub_lat, hub_lon=hub_lon, hub_region=hub_region, hub_core=hub_core,
        region_hubs=tuple(np.flatnonzero((hub_region == r) & hub_core)
                          for r in range(len(region_names))),
        ref_xyz=_unit_xyz(ref_lat, ref_lon), ref_region=ref_region,
        link_a=link_a, link_b=link_b, link_km=np.array([links[k] for k in keys]),
        link_border=(hub_region[link_a] == china) != (hub_region[link_b] == china),
        link_weak=np.array([k in weak for k in keys], dtype=bool),
        link_private=np.array([k in private for k in keys], dtype=bool),
    )
    for value in vars(geo).values():  # cached for the process: make its arrays read-only
        for array in (value if isinstance(value, tuple) else (value,)):
            if isinstance(array, np.ndarray):
                array.setflags(write=False)
    return geo


def region_of(lat: ArrayLike, lon: ArrayLike) -> NDArray[np.str_]:
    """Name of the model's region (peering domain) of each coordinate.

    Examples
    --------
    >>> [str(r) for r in region_of([48.1, 6.5, -1.3], [11.6, 3.4, 36.8])]
    ['europe', 'nigeria', 'kenya']
    """
    geo = geography()
    return np.asarray(geo.region_names)[geo.region_index(lat, lon)]


# --- Parameters --------------------------------------------------------------------------------


@dataclass(frozen=True)
class NetworkParams:
    """Fitted parameters of one network (``public`` or ``private``).

    Attributes
    ----------
    link_stretch : float
        Route length over great-circle length on hub-to-hub links (multiplies the fibre floor).
    hop_ms : float
        Cost of each link (routers, exchange fabric), ms.
    access_stretch : float
        The same stretch from a host to a hub of its region.
    border_ms : float
        Extra RTT on a link into or out of mainland China (the border filtering and the few
        international gateways), ms.
    weak_ms : float
        Extra RTT on links marked ``weak``: regional routes that existed but carried little
        public transit (most traffic still went round through the US or Europe), ms.
    intra_scale_km : float
        Distance ``L`` over which the in-region overhead ``a1`` builds up.
    core_stretch : float
        In-region paths also pay this times the fibre floor from each end to the nearest core
        hub of its region (hosts far from a major exchange are worse connected); at most 1, so
        that the in-region RTT stays monotone in distance.
    access_ms : mapping of str to float
        Per class of region, the RTT each end adds on a path between regions, ms.
    intra : mapping of str to (float, float, float)
        Per class of region, ``(a0, a1, b)`` of the in-region curve
        ``a0 + a1 * (1 - exp(-d / L)) + b * floor(d)``.
    """

    link_stretch: float
    hop_ms: float
    access_stretch: float
    border_ms: float
    weak_ms: float
    intra_scale_km: float
    core_stretch: float
    access_ms: Mapping[str, float] = field(default_factory=dict)
    intra: Mapping[str, tuple[float, float, float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        missing = [c for c in REGION_CLASSES if c not in self.access_ms or c not in self.intra]
        if missing:
            raise ValueError(f"latency parameters lack region classes {missing}")
        if self.link_stretch < 1.0 or self.access_stretch < 1.0:
            raise ValueError("stretches must be >= 1 (nothing is faster than straight fibre)")
        if not 0.0 <= self.core_stretch <= 1.0:
            raise ValueError("core_stretch must be in [0, 1]")
        if any(b < 1.0 or a0 < 0 or a1 < 0 for a0, a1, b in self.intra.values()):
            raise ValueError("in-region curves need a0, a1 >= 0 and b >= 1")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> NetworkParams:
        """Build from the JSON form written by :meth:`to_dict`."""
        return cls(
            link_stretch=float(data["link_stretch"]), hop_ms=float(data["hop_ms"]),
            access_stretch=float(data["access_stretch"]), border_ms=float(data["border_ms"]),
            weak_ms=float(data["weak_ms"]),
            intra_scale_km=float(data["intra_scale_km"]),
            core_stretch=float(data["core_stretch"]),
            access_ms={str(k): float(v) for k, v in data["access_ms"].items()},
            intra={str(k): (float(v[0]), float(v[1]), float(v[2]))
                   for k, v in data["intra"].items()},
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (rounded to 4 decimals)."""
        return {
            "link_stretch": round(self.link_stretch, 4), "hop_ms": round(self.hop_ms, 4),
            "access_stretch": round(self.access_stretch, 4),
            "border_ms": round(self.border_ms, 4), "weak_ms": round(self.weak_ms, 4),
            "intra_scale_km": round(self.intra_scale_km, 4),
            "core_stretch": round(self.core_stretch, 4),
            "access_ms": {c: round(self.access_ms[c], 4) for c in REGION_CLASSES},
            "intra": {c: [round(x, 4) for x in self.intra[c]] for c in REGION_CLASSES},
        }


def load_params(path: Path | str = PARAMS_PATH) -> dict[str, NetworkParams]:
    """Read fitted parameters: ``{"public": ..., "private": ...}``."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    return {net: NetworkParams.from_dict(data[net]) for net in ("public", "private")}


# --- The model ---------------------------------------------------------------------------------


def _grid(x: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.round(x * _GRID) / _GRID


@dataclass(frozen=True, eq=False)
class Points:
    """Per-point quantities the model needs, computed once for a set of coordinates."""

    lat: NDArray[np.float64]
    lon: NDArray[np.float64]
    region: NDArray[np.int64]
    hub_floor_ms: NDArray[np.float64]
    """``n x k``: fibre floor to each core hub of the point's region (``inf`` padding), ms."""


class LatencyModel:
    """RTTs for one parameter set; hub-to-hub path costs are computed once, at construction.

    Parameters
    ----------
    params : NetworkParams
        Fitted parameters.
    geo : Geography, optional
        Structure; the module's tables by default.
    network : {"public", "private"}
        Which links exist: the private backbone also has the links marked ``private``.
    """

    def __init__(self, params: NetworkParams, geo: Geography | None = None,
                 network: Network = "public"):
        if network not in ("public", "private"):
            raise ValueError(f"network must be 'public' or 'private', got {network!r}")
        self.params = params
        self.network = network
        self.geo = geo = geo if geo is not None else geography()
        n = len(geo.hub_names)
        w = _grid(params.link_stretch * fibre_floor_rtt_ms(geo.link_km) + params.hop_ms
                  + params.border_ms * geo.link_border + params.weak_ms * geo.link_weak)
        use = np.ones(len(w), dtype=bool) if network == "private" else ~geo.link_private
        dist = np.full((n, n), np.inf)
        np.fill_diagonal(dist, 0.0)
        dist[geo.link_a[use], geo.link_b[use]] = w[use]
        dist[geo.link_b[use], geo.link_a[use]] = w[use]
        for k in range(n):  # Floyd-Warshall; ~150 hubs, a few ms
            np.minimum(dist, dist[:, k, None] + dist[None, k, :], out=dist)
        dist.setflags(write=False)  # shared by every run in the process: read-only
        self.hub_ms = dist
        cls = geo.region_class
        self._access_ms = _grid(np.array([params.access_ms[c] for c in cls]))
        intra = np.array([params.intra[c] for c in cls])
        self._a0, self._a1, self._b = intra[:, 0], intra[:, 1], intra[:, 2]
        self._kmax = max(len(h) for h in geo.region_hubs)

    def points(self, lat: ArrayLike, lon: ArrayLike) -> Points:
        """Region and distance to the region's hubs of each of a 1-D set of coordinates."""
        geo = self.geo
        lat = np.asarray(lat, dtype=float).ravel()
        lon = np.asarray(lon, dtype=float).ravel()
        region = geo.region_index(lat, lon)
        floor = np.full((len(lat), self._kmax), np.inf)
        for r in np.unique(region):
            sel = np.flatnonzero(region == r)
            hubs = geo.region_hubs[r]
            floor[sel, :len(hubs)] = fibre_floor_rtt_ms(haversine_km(
                lat[sel, None], lon[sel, None], geo.hub_lat[None, hubs], geo.hub_lon[None, hubs]))
        return Points(lat=lat, lon=lon, region=region, hub_floor_ms=floor)

    def _to_hubs(self, pts: Points, rows: NDArray[np.int64]) -> NDArray[np.float64]:
        """``len(rows) x n_hubs``: cheapest cost from each point to every hub."""
        geo = self.geo
        out = np.empty((len(rows), len(geo.hub_names)))
        acc = _grid(self.params.access_stretch * pts.hub_floor_ms[rows])
        reg = pts.region[rows]
        for r in np.unique(reg):
            sel = np.flatnonzero(reg == r)
            hubs = geo.region_hubs[r]
            # (points, own hubs, all hubs) -> min over own hubs
            out[sel] = np.min(acc[sel, :len(hubs), None] + self.hub_ms[hubs][None, :, :], axis=1)
        return out

    def pair_rtt_ms(self, pa: Points, pb: Points, ia: NDArray[np.int64],
                    ib: NDArray[np.int64]) -> NDArray[np.float64]:
        """RTT in ms of the pairs ``(pa[ia[k]], pb[ib[k]])``."""
        p = self.params
        d = haversine_km(pa.lat[ia], pa.lon[ia], pb.lat[ib], pb.lon[ib])
        floor = fibre_floor_rtt_ms(d)
        ra, rb = pa.region[ia], pb.region[ib]
        same = ra == rb
        out = np.empty(len(ia))
        r = ra[same]
        core = _grid(p.core_stretch * np.min(pa.hub_floor_ms[ia[same]], axis=1)) + _grid(
            p.core_stretch * np.min(pb.hub_floor_ms[ib[same]], axis=1))
        out[same] = (self._a0[r] + self._a1[r] * -np.expm1(-d[same] / p.intra_scale_km)
                     + self._b[r] * floor[same]) + core
        cross = np.flatnonzero(~same)
        if len(cross):
            # Cost to every hub from the side with fewer points, then close the path on the other.
            if len(pb.lat) <= len(pa.lat):
                near, far, inear, ifar = pb, pa, ib[cross], ia[cross]
            else:
                near, far, inear, ifar = pa, pb, ia[cross], ib[cross]
            acc_far = _grid(p.access_stretch * far.hub_floor_ms)
            used, pos = np.unique(inear, return_inverse=True)
            best = np.empty(len(cross))
            for start in range(0, len(used), 2048):  # bounded memory for huge inputs
                stop = min(start + 2048, len(used))
                to_hubs = self._to_hubs(near, used[start:stop])
                rows = np.flatnonzero((pos >= start) & (pos < stop))
                rfar = far.region[ifar[rows]]
                order = np.argsort(rfar, kind="stable")
                rows, rfar = rows[order], rfar[order]
                for sel in np.split(rows, np.flatnonzero(np.diff(rfar)) + 1):
                    hubs = self.geo.region_hubs[far.region[ifar[sel[0]]]]
                    best[sel] = np.min(acc_far[ifar[sel], :len(hubs)]
                                       + to_hubs[(pos[sel] - start)[:, None], hubs[None, :]],
                                       axis=1)
            out[cross] = best + (self._access_ms[ra[cross]] + self._access_ms[rb[cross]])
        return np.maximum(out, floor)

    def rtt_ms(self, lat_a: ArrayLike, lon_a: ArrayLike, lat_b: ArrayLike,
               lon_b: ArrayLike) -> NDArray[np.float64]:
        """RTT in ms between coordinates that broadcast against each other."""
        arrays = [np.asarray(x, dtype=float) for x in (lat_a, lon_a, lat_b, lon_b)]
        shape = np.broadcast_shapes(*(a.shape for a in arrays))
        sides = []
        for lat, lon in (arrays[:2], arrays[2:]):
            lat, lon = np.broadcast_arrays(lat, lon)
            bad = ~(np.isfinite(lat) & np.isfinite(lon))
            key = np.where(bad, 0.0, lat).ravel() + 1j * np.where(bad, 0.0, lon).ravel()
            uniq, inverse = np.unique(key, return_inverse=True)
            idx = np.broadcast_to(inverse.reshape(lat.shape), shape).ravel()
            sides.append((self.points(uniq.real, uniq.imag), idx,
                          np.broadcast_to(bad, shape).ravel()))
        (pa, ia, bad_a), (pb, ib, bad_b) = sides
        if len(ia) == 0:
            return np.empty(shape)
        out = self.pair_rtt_ms(pa, pb, ia, ib)
        out[bad_a | bad_b] = np.nan
        return out.reshape(shape)


@lru_cache(maxsize=2)
def default_model(network: Network = "public") -> LatencyModel:
    """The shipped model of one network, built once per process (immutable)."""
    if network not in ("public", "private"):
        raise ValueError(f"network must be 'public' or 'private', got {network!r}")
    return LatencyModel(load_params()[network], network=network)


def path_rtt_ms(lat_a: ArrayLike, lon_a: ArrayLike, lat_b: ArrayLike, lon_b: ArrayLike,
                network: Network = "public") -> NDArray[np.float64]:
    """Typical minimum RTT in ms between two well-connected hosts, without last mile.

    Parameters
    ----------
    lat_a, lon_a, lat_b, lon_b : array_like
        Coordinates in degrees; broadcast against each other (e.g. ``sites[:, None]`` against
        ``nodes[None, :]`` for a table).
    network : {"public", "private"}
        ``"public"``: the public internet between servers in data centres (the minimum RTT
        of a ping, calibrated on WonderProxy 2020). ``"private"``: the provider's backbone
        between its sites (calibrated on Azure's region-to-region P95).

    Returns
    -------
    numpy.ndarray
        RTT in ms with the broadcast shape (a NumPy scalar for scalar input); never below
        :func:`fibre_floor_rtt_ms` of the great-circle distance, symmetric in its two ends,
        and ``nan`` where a coordinate is not finite.

    Raises
    ------
    ValueError
        If ``network`` is not one of the two names.

    Examples
    --------
    >>> rtt = path_rtt_ms(52.37, 4.90, 40.71, -74.01)  # Amsterdam - New York
    >>> 60 < float(rtt) < 100
    True
    >>> path_rtt_ms([48.86, 51.51], [2.35, -0.13], 1.35, 103.82).shape
    (2,)
    """
    out = default_model(network).rtt_ms(lat_a, lon_a, lat_b, lon_b)
    return out[()] if out.ndim == 0 else out
