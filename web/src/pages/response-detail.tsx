import { PageHeader } from "@/components/page";

export default function ResponseDetail() {
  return <PageHeader title="ResponseDetail" description="Coming in the next slice." />;
}
