import { PageHeader } from "@/components/page";

export default function People() {
  return <PageHeader title="People" description="Coming in the next slice." />;
}
