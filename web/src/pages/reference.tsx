import { PageHeader } from "@/components/page";

export default function Reference() {
  return <PageHeader title="Reference" description="Coming in the next slice." />;
}
