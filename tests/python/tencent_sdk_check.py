"""Drives the Tencent Cloud simulator with the vendor's own SDK (tencentcloud-sdk-python).

Usage: tencent_sdk_check.py HOST:PORT SECRET_ID SECRET_KEY

Calls every Describe action instance discovery uses (paging through them with Offset/Limit, in
two regions), GetMonitorData and DescribeBaseMetrics, through the SDK's clients, request models
and TC3-HMAC-SHA256 signing, pointed at the simulator over plain HTTP; then the same call with a
wrong key. Prints one JSON object of what the SDK decoded; the Rust test checks it.
"""
import json
import sys
from datetime import datetime, timedelta, timezone

from tencentcloud.common import credential
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.cvm.v20170312 import cvm_client, models as cvm
from tencentcloud.cdb.v20170320 import cdb_client, models as cdb
from tencentcloud.redis.v20180412 import redis_client, models as redis
from tencentcloud.clb.v20180317 import clb_client, models as clb
from tencentcloud.postgres.v20170312 import postgres_client, models as pg
from tencentcloud.mongodb.v20190725 import mongodb_client, models as mongo
from tencentcloud.ckafka.v20190819 import ckafka_client, models as ckafka
from tencentcloud.monitor.v20180724 import monitor_client, models as monitor

endpoint, secret_id, secret_key = sys.argv[1:4]


def profile():
    return ClientProfile(httpProfile=HttpProfile(protocol="http", endpoint=endpoint))


def client(module, cls, region, key=secret_key):
    return getattr(module, cls)(credential.Credential(secret_id, key), region, profile())


def page_all(call, request, items, total, limit):
    """Pages with Offset/Limit until TotalCount; returns (ids-bearing items, pages, total)."""
    out, offset, pages = [], 0, 0
    while True:
        request.Offset, request.Limit = offset, limit
        response = call(request)
        page, count = items(response), total(response)
        pages += 1
        out.extend(page)
        offset += len(page)
        if not page or offset >= count:
            return out, pages, count


def tags(tag_list, key="TagKey", value="TagValue"):
    return {getattr(t, key): getattr(t, value) for t in (tag_list or [])}


result = {}
for region in ["ap-guangzhou", "ap-shanghai"]:
    c = client(cvm_client, "CvmClient", region)
    found, pages, total = page_all(
        c.DescribeInstances, cvm.DescribeInstancesRequest(),
        lambda r: r.InstanceSet, lambda r: r.TotalCount, 2)
    result["cvm/" + region] = {
        "total": total, "pages": pages,
        "instances": [{"id": i.InstanceId, "name": i.InstanceName, "zone": i.Placement.Zone,
                       "project": i.Placement.ProjectId, "vpc": i.VirtualPrivateCloud.VpcId,
                       "tags": tags(i.Tags, "Key", "Value")} for i in found]}

r = cvm.DescribeInstancesRequest()
f = cvm.Filter()
f.Name, f.Values = "tag:env", ["prod"]
r.Filters = [f]
result["cvm_filtered"] = [i.InstanceId for i in
                          client(cvm_client, "CvmClient", "ap-guangzhou").DescribeInstances(r).InstanceSet]

region = "ap-guangzhou"
found, pages, total = page_all(client(cdb_client, "CdbClient", region).DescribeDBInstances,
                               cdb.DescribeDBInstancesRequest(), lambda r: r.Items,
                               lambda r: r.TotalCount, 100)
result["cdb"] = [{"id": i.InstanceId, "zone": i.Zone, "vpc": i.UniqVpcId, "tags": tags(i.TagList)}
                 for i in found]
found, pages, total = page_all(client(redis_client, "RedisClient", region).DescribeInstances,
                               redis.DescribeInstancesRequest(), lambda r: r.InstanceSet,
                               lambda r: r.TotalCount, 100)
result["redis"] = [{"id": i.InstanceId, "zone_id": i.ZoneId, "vpc": i.UniqVpcId,
                    "tags": tags(i.InstanceTags)} for i in found]
for kind in ["OPEN", "INTERNAL"]:
    r = clb.DescribeLoadBalancersRequest()
    r.LoadBalancerType = kind
    found, pages, total = page_all(client(clb_client, "ClbClient", region).DescribeLoadBalancers,
                                   r, lambda r: r.LoadBalancerSet, lambda r: r.TotalCount, 100)
    result["clb/" + kind] = [{"id": i.LoadBalancerId, "type": i.LoadBalancerType,
                              "vips": i.LoadBalancerVips, "zone": i.MasterZone.Zone,
                              "tags": tags(i.Tags)} for i in found]
found, pages, total = page_all(client(postgres_client, "PostgresClient", region).DescribeDBInstances,
                               pg.DescribeDBInstancesRequest(), lambda r: r.DBInstanceSet,
                               lambda r: r.TotalCount, 100)
result["postgres"] = [{"id": i.DBInstanceId, "zone": i.Zone, "tags": tags(i.TagList)} for i in found]
found, pages, total = page_all(client(mongodb_client, "MongodbClient", region).DescribeDBInstances,
                               mongo.DescribeDBInstancesRequest(), lambda r: r.InstanceDetails,
                               lambda r: r.TotalCount, 100)
result["mongodb"] = [{"id": i.InstanceId, "zone": i.Zone, "tags": tags(i.Tags)} for i in found]
found, pages, total = page_all(client(ckafka_client, "CkafkaClient", region).DescribeInstancesDetail,
                               ckafka.DescribeInstancesDetailRequest(),
                               lambda r: r.Result.InstanceList, lambda r: r.Result.TotalCount, 20)
result["ckafka"] = {"pages": pages, "instances": [{"id": i.InstanceId, "zone_id": i.ZoneId,
                                                   "tags": tags(i.Tags)} for i in found]}

m = client(monitor_client, "MonitorClient", region)
r = monitor.GetMonitorDataRequest()
r.Namespace, r.MetricName, r.Period = "QCE/CVM", "CPUUsage", 60
tz = timezone(timedelta(hours=8))
end = datetime.now(tz).replace(microsecond=0)
r.StartTime = (end - timedelta(minutes=10)).isoformat()
r.EndTime = end.isoformat()
instance = monitor.Instance()
dimension = monitor.Dimension()
dimension.Name, dimension.Value = "InstanceId", result["cvm/ap-guangzhou"]["instances"][0]["id"]
instance.Dimensions = [dimension]
r.Instances = [instance]
data = m.GetMonitorData(r)
result["monitor"] = {
    "metric": data.MetricName, "period": data.Period,
    "points": [{"dimensions": {d.Name: d.Value for d in p.Dimensions},
                "timestamps": len(p.Timestamps), "values": len(p.Values)} for p in data.DataPoints]}
r = monitor.DescribeBaseMetricsRequest()
r.Namespace = "QCE/CVM"
result["catalog"] = sorted(x.MetricName for x in m.DescribeBaseMetrics(r).MetricSet)

try:
    client(cvm_client, "CvmClient", "ap-guangzhou", key=secret_key + "-wrong").DescribeInstances(
        cvm.DescribeInstancesRequest())
    result["wrong_key"] = "accepted"
except TencentCloudSDKException as e:
    result["wrong_key"] = e.get_code()

print(json.dumps(result, sort_keys=True))
